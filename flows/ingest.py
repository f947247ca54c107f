"""Ingest + gate: a month becomes a validated data version, or is quarantined and the flow fails."""

from __future__ import annotations

from prefect import flow

from driftloop.batches import DataVersion
from driftloop.data import check_month
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from tasks.ingest import ingest_batch
from tasks.validate import validate_batch_task


@flow(name="ingest", flow_run_name="ingest {month}")
def ingest_flow(month: str, settings: Settings | None = None) -> DataVersion:
    """Ingest `month` and run the data contract on it; raises ContractViolation naming each broken rule."""
    runtime = open_runtime(settings)
    version = ingest_batch(runtime, check_month(month))
    validate_batch_task(runtime, version)
    return version
