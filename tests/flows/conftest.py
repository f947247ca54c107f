"""Flow tests share the session fixtures of tests/conftest.py (the Prefect server, the file source)."""
