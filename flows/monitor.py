"""Monitor: drift and performance of the champion on a month; emits `driftloop.drift.detected` on drift."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from driftloop.data import check_month
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from tasks.monitor import emit_drift_event, monitor_task


class MonitorOutcome(BaseModel):
    month: str
    model_version: int
    drifted: bool
    reasons: list[str]
    drift_share: float
    drifted_features: list[str]
    live_auc: float | None
    report: str
    event_id: str | None


@flow(name="monitor", flow_run_name="monitor {month}")
def monitor_flow(month: str, settings: Settings | None = None) -> MonitorOutcome:
    """Check the champion on `month`; on drift emit the event that retraining listens to."""
    runtime = open_runtime(settings)
    champion = runtime.registry.champion()
    if champion is None:
        raise LookupError(f"{runtime.registry.model} has no champion to monitor: run `driftloop train` first")
    result = monitor_task(runtime, check_month(month), champion.version)
    event_id = emit_drift_event(runtime, result) if result.decision.drifted else None
    return MonitorOutcome(
        month=month,
        model_version=champion.version,
        drifted=result.decision.drifted,
        reasons=list(result.decision.reasons),
        drift_share=result.summary.drift_share,
        drifted_features=list(result.summary.drifted_features),
        live_auc=result.live.auc if result.live else None,
        report=runtime.storage.uri(result.report_key),
        event_id=event_id,
    )
