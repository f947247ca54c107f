"""Retrain: what a drift event starts — train on the recent window, then evaluate and promote."""

from __future__ import annotations

from prefect import flow, get_run_logger

from driftloop.periods import check_period
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from flows.phases import TrainOutcome, train_and_judge


@flow(name="retrain", flow_run_name="retrain after {period}")
def retrain_flow(
    period: str, reason: str = "drift detected", settings: Settings | None = None
) -> TrainOutcome:
    """Retrain on the window ending at `period` (the drifted period, already ingested by monitoring)."""
    runtime = open_runtime(settings or Settings.load())
    period = check_period(period, runtime.contract.time.period)
    get_run_logger().info("Retraining on data up to %s because: %s", period, reason)
    return train_and_judge(runtime, as_of=period, data_period=period)
