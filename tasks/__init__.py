"""Prefect tasks: thin wrappers over `driftloop` functions that add retries, caching and artifacts."""
