"""The production cadence: ingest, gate, score and monitor last month; drift emits the retrain event."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from driftloop.data import check_month, shift_month
from driftloop.settings import Settings
from flows.ingest import ingest_flow
from flows.monitor import MonitorOutcome, monitor_flow
from flows.score import score_flow


def previous_month(now: datetime | None = None) -> str:
    """The last complete calendar month (UTC): what a run on the 2nd of a month should process."""
    now = now or datetime.now(UTC)
    return shift_month(f"{now:%Y-%m}", -1)


@flow(name="monthly", flow_run_name="monthly {month}")
def monthly_flow(month: str | None = None, settings: Settings | None = None) -> MonitorOutcome:
    """Run one month through the gate, batch scoring and monitoring (default: last month).

    Retraining is not called here: on drift the monitor emits `driftloop.drift.detected`, and the
    `retrain` deployment's trigger starts it, so the two scale and fail independently.
    """
    month = check_month(month) if month else previous_month()
    ingest_flow(month, settings)
    score_flow(month, settings=settings)
    return monitor_flow(month, settings)
