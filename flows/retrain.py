"""Retrain: what a drift event starts — record the event, then train on the window and promote on evidence.

Each drift event is handled once: its id is recorded create-only before anything is trained, so the
same event delivered twice trains once, and an event about a champion that has since been replaced is
recorded and skipped (the deployment also runs one retrain at a time and cancels newcomers).
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from driftloop.periods import check_period
from driftloop.records import Record
from driftloop.retrain_requests import drift_event_id
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from flows.phases import TrainOutcome, train_and_judge
from tasks.retrain import record_outcome_task, record_request_task


class RetrainResult(Record):
    event_id: str
    status: Literal["trained", "duplicate", "stale"]
    message: str
    outcome: TrainOutcome | None = None


@flow(name="retrain", flow_run_name="retrain after {period}")
def retrain_flow(
    period: str,
    reason: str = "drift detected",
    event_id: str | None = None,
    champion_version: int | None = None,
    settings: Settings | None = None,
) -> RetrainResult:
    """Retrain on the window ending at `period` (the drifted period, already ingested by monitoring).

    Args:
        period: the drifted period.
        reason: why monitoring asked for it (shown in the run and the promotion log).
        event_id: the drift event's id; default: the id of this model, period and current champion.
        champion_version: the champion the event judged; default: the current one.
        settings: all settings; read from the environment when omitted.
    """
    runtime = open_runtime(settings or Settings.load())
    period = check_period(period, runtime.contract.time.period)
    if event_id is None:
        champion = runtime.registry.require_champion().version
        event_id = drift_event_id(runtime.registry.model, period, champion_version or champion)
    _, skip = record_request_task(runtime, period, reason, event_id, champion_version)
    if skip is not None:
        return RetrainResult(event_id=event_id, status=skip.kind, message=skip.message)
    get_run_logger().info("Retraining on data up to %s because: %s", period, reason)
    outcome = train_and_judge(runtime, as_of=period, data_period=period)
    record_outcome_task(runtime, event_id, outcome.version, outcome.promoted, outcome.reasons)
    verdict = "promoted" if outcome.promoted else "not promoted"
    return RetrainResult(
        event_id=event_id, status="trained", message=f"v{outcome.version} {verdict}", outcome=outcome
    )
