"""Retrain: what a drift event starts — train on the recent window, then evaluate and promote."""

from __future__ import annotations

from prefect import flow, get_run_logger

from driftloop.settings import Settings
from flows.train import TrainOutcome, train_flow


@flow(name="retrain", flow_run_name="retrain after {month}")
def retrain_flow(
    month: str, reason: str = "drift detected", settings: Settings | None = None
) -> TrainOutcome:
    """Retrain on the window ending at `month` (the drifted month, whose labels are in)."""
    get_run_logger().info("Retraining on data up to %s because: %s", month, reason)
    return train_flow(as_of=month, settings=settings)
