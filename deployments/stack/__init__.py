"""`driftloop stack`: a secured local stack (PostgreSQL, Prefect server, SeaweedFS S3, a worker, and a Dask
cluster when asked) and the declarations (`infra/`) applied to any Prefect API and S3 endpoint.

Every service listens on 127.0.0.1 only and asks for credentials; the secrets are generated once and kept
outside the repository with mode 0600. `up` records what it started, `down` stops exactly that.
"""
