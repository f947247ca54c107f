"""Ingest: cut a month out of the source and store it as a content-hashed data version."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext

from driftloop.batches import DataVersion, ingest_month
from driftloop.data import source_fingerprint
from driftloop.runtime import Runtime

INGEST_CODE_VERSION = "ingest-v1"


def ingest_cache_key(_: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Same source bytes + month + slice + contract + store -> same data version: a rerun is a cache hit."""
    runtime: Runtime = parameters["runtime"]
    data = runtime.settings.data
    return "ingest-" + runtime.settings_hash(
        INGEST_CODE_VERSION,
        runtime.storage.url,
        runtime.contract.fingerprint,
        source_fingerprint(runtime.contract),
        parameters["month"],
        data.sample_fraction,
        data.sample_seed,
    )


@task(
    name="ingest-month",
    task_run_name="ingest {month}",
    retries=2,
    retry_delay_seconds=[1, 5],
    cache_key_fn=ingest_cache_key,
    result_serializer="json",
    persist_result=True,
)
def ingest_batch(runtime: Runtime, month: str) -> DataVersion:
    """Load the month from the source and store it as Parquet under its SHA-256."""
    data = runtime.settings.data
    version = ingest_month(
        runtime.storage,
        runtime.contract,
        runtime.source_table(),
        month,
        data.sample_fraction,
        data.sample_seed,
    )
    create_table_artifact(
        key=f"ingest-{runtime.contract.name}-{month}".lower(),
        table=[
            {
                "month": month,
                "rows": version.rows,
                "sha256": version.sha256,
                "uri": runtime.storage.uri(version.key),
            }
        ],
        description=f"Data version of {runtime.contract.name} {month}",
    )
    return version
