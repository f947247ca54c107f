"""Retrain: what a drift event starts — record the event, then train on the window and promote on evidence.

Each drift event is handled once: a run takes the event's record (create-only, or from "pending" by
compare-and-swap) before anything is trained, so the same event delivered twice trains once, and an
event about a champion that has since been replaced is recorded and skipped. The deployment runs one
retrain at a time and cancels newcomers; an event cancelled that way is still "pending" in the store, so
each run, having handled its own event, takes the pending ones too (oldest period first).
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from driftloop.core.periods import check_period
from driftloop.core.records import Record
from driftloop.core.settings import Settings
from driftloop.lifecycle.retrain_requests import DriftEvent, drift_event_id
from driftloop.lifecycle.runtime import Runtime, open_runtime
from flows.options import FLOW_RESULTS
from flows.phases import TrainOutcome, ingest_window, train_and_judge
from tasks.retrain import pending_requests_task, record_outcome_task, record_request_task

# A bound, not an expectation: one or two events at most arrive while a retrain runs.
MAX_PENDING = 12


class RetrainResult(Record):
    event_id: str
    status: Literal["trained", "duplicate", "stale"]
    message: str
    outcome: TrainOutcome | None = None
    pending_handled: tuple[RetrainResult, ...] = ()  # events that arrived while another retrain ran


@flow(name="retrain", flow_run_name="retrain after {period}", **FLOW_RESULTS)
def retrain_flow(
    period: str,
    reason: str = "drift detected",
    event_id: str | None = None,
    champion_version: int | None = None,
    settings: Settings | None = None,
) -> RetrainResult:
    """Retrain on the window ending at `period` (the drifted period), its periods ingested first if need be.

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
    own = DriftEvent(
        event_id=event_id,
        model=runtime.registry.model,
        period=period,
        champion_version=champion_version,
        reason=reason,
    )
    result = _handle(runtime, own)
    handled: list[RetrainResult] = []
    for _ in range(MAX_PENDING):
        waiting = pending_requests_task(runtime)
        if not waiting:
            break
        get_run_logger().info(
            "Drift event %s (%s) arrived while another retrain ran: handling it now",
            waiting[0].event_id,
            waiting[0].period,
        )
        handled.append(_handle(runtime, waiting[0].event))
    return result.model_copy(update={"pending_handled": tuple(handled)})


def _handle(runtime: Runtime, event: DriftEvent) -> RetrainResult:
    """Take one event and, unless it is a duplicate or stale, train on its window and record the outcome."""
    request, skip = record_request_task(runtime, event)
    if skip is not None:
        return RetrainResult(event_id=event.event_id, status=skip.kind, message=skip.message)
    get_run_logger().info("Retraining on data up to %s because: %s", request.period, request.reason)
    ingest_window(
        runtime, request.period
    )  # done already when batch monitoring ran; not after served monitoring
    champion = runtime.registry.champion()
    outcome = train_and_judge(runtime, request.period, request.period, champion.version if champion else None)
    record_outcome_task(runtime, event.event_id, outcome.version, outcome.promoted, outcome.reasons)
    verdict = "promoted" if outcome.promoted else "not promoted"
    return RetrainResult(
        event_id=event.event_id, status="trained", message=f"v{outcome.version} {verdict}", outcome=outcome
    )
