"""Ingest + gate: a period becomes a validated data version, or is quarantined and the flow fails."""

from __future__ import annotations

from prefect import flow

from driftloop.core.periods import check_period
from driftloop.core.settings import Settings
from driftloop.data.batches import DataVersion
from driftloop.lifecycle.runtime import open_runtime
from flows.options import FLOW_RESULTS
from flows.phases import ingest_and_gate


@flow(name="ingest", flow_run_name="ingest {period}", **FLOW_RESULTS)
def ingest_flow(period: str, settings: Settings | None = None) -> DataVersion:
    """Ingest `period` and run the data contract on it; raises ContractViolation naming each broken rule."""
    runtime = open_runtime(settings or Settings.load())
    return ingest_and_gate(runtime, check_period(period, runtime.contract.time.period)).version
