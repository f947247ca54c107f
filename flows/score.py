"""Batch score: ingest and gate a period, then score it with the champion (or a given version)."""

from __future__ import annotations

from prefect import flow

from driftloop.core import layout
from driftloop.core.periods import check_period
from driftloop.core.settings import Settings
from driftloop.lifecycle.runtime import open_runtime
from flows.options import FLOW_RESULTS
from flows.phases import ingest_and_gate
from tasks.score import ScoreOutcome, score_period_task


@flow(name="score", flow_run_name="score {period}", **FLOW_RESULTS)
def score_flow(period: str, version: int | None = None, settings: Settings | None = None) -> ScoreOutcome:
    """Score `period` and store the predictions with the model and data versions."""
    runtime = open_runtime(settings or Settings.load())
    period = check_period(period, runtime.contract.time.period)
    version = version if version is not None else runtime.registry.require_champion().version
    gate = ingest_and_gate(runtime, period)
    stored = runtime.storage.exists(
        layout.predictions(runtime.contract.name, period, runtime.registry.model, version)
    )
    return score_period_task.with_options(refresh_cache=not stored)(runtime, gate, version)
