"""Ingest: cut a period out of the source and store it as a content-hashed data version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import TaskRunContext

from driftloop.core.provenance import CODE_VERSION
from driftloop.data.batches import DataVersion, ingest_period
from driftloop.data.gate import quarantine_unreadable
from driftloop.data.sources import UnreadableInput, source_fingerprint
from driftloop.lifecycle.runtime import Runtime
from tasks.options import CACHED_AS_JSON


def ingest_cache_key(_: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Same source bytes + period + slice + contract + store -> same data version: a rerun is a cache hit."""
    runtime: Runtime = parameters["runtime"]
    data = runtime.settings.data
    return "ingest-" + runtime.settings_hash(
        CODE_VERSION,
        runtime.storage.url,
        runtime.contract.fingerprint,
        source_fingerprint(runtime.contract),
        parameters["period"],
        data.sample_fraction,
        data.sample_seed,
    )


@task(
    name="ingest",
    task_run_name="ingest {period}",
    cache_key_fn=ingest_cache_key,
    **CACHED_AS_JSON,
)
def ingest_task(runtime: Runtime, period: str) -> DataVersion:
    """Cut the period out of the source and store it as Parquet under its SHA-256."""
    data = runtime.settings.data
    with runtime.clock.measure("ingest"):
        try:
            rows = runtime.sources.read_period(period)
        except UnreadableInput as unreadable:
            if unreadable.path is None:
                raise
            entry = quarantine_unreadable(
                runtime.storage, runtime.contract, Path(unreadable.path), str(unreadable)
            )
            raise UnreadableInput(
                f"{unreadable}; its bytes and this reason are quarantined at {entry}"
            ) from None
        return ingest_period(
            runtime.storage, runtime.contract, rows, period, data.sample_fraction, data.sample_seed
        )
