"""Exactly one retraining per drift event: a deterministic event id, and one record per id in the store.

Automations do not deduplicate events, and the same drift can be announced twice (a monitoring rerun,
a retried emit). The event's id is made from what it is about — model, period, the champion it judged —
so both announcements carry the same id. Monitoring records the event as "pending" before it emits it;
the first retrain run to take the record (create-only, or compare-and-swap from "pending") trains, every
later one is skipped and says which run handled it. An event about a champion that has since been
replaced is recorded as "stale" and skipped: its evidence judged a model that no longer serves.

The retrain deployment runs one retrain at a time and cancels a newcomer, so an event that arrives while
a retrain runs gets no run of its own; its "pending" record is still there, and every retrain run takes
the model's pending events when it has handled its own (`pending_requests`). No event is left unhandled
and none trains twice.

A run can die after taking an event and before recording its outcome (its process killed, its machine
gone). The caller says which runs are over (`RunEnded`: the orchestrator knows, this module does not); an
event whose taker is over with no outcome is taken over by the next run, by the same compare-and-swap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal

from driftloop.core import faults, layout
from driftloop.core.clock import now_utc
from driftloop.core.records import Record
from driftloop.core.storage import PreconditionFailed, Storage, read_if_exists

# Fixed forever: changing it would give an already-handled drift a new id.
_EVENT_NAMESPACE = uuid.UUID("6f1c2b1e-4d1a-5c8e-9a0b-2f3d4e5a6b7c")

Status = Literal["pending", "accepted", "stale"]
RunEnded = Callable[[str], bool]  # whether the flow run with this id is over (finished, failed, crashed)


def _never_ended(run_id: str) -> bool:
    return False


def drift_event_id(model: str, period: str, champion_version: int) -> str:
    """The id of "model's champion vN drifted in period": the same drift always gets the same id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{model}/{period}/v{champion_version}"))


class DriftEvent(Record):
    """What a drift event is about: the model's champion in a period, and why monitoring asks to retrain.

    The `driftloop.drift.detected` event's payload is exactly this record, and the retrain automation in
    `infra/automations.yaml` reads its fields by these names (a test holds the two together).
    """

    event_id: str
    model: str
    period: str
    champion_version: int | None  # the champion the drift was measured on; None: "the current one"
    reason: str  # the decision's reasons, in one line
    policy: str | None = None  # the policy that decided (None in records before v0.5)
    alarms: tuple[str, ...] = ()  # the policy's triggers that fired
    drift_index: float | None = None


class RetrainRequest(DriftEvent):
    """A drift event as recorded, with what the retrain run that took it decided about it."""

    status: Status
    detail: str
    run_id: str | None  # the retrain run that took it (None while pending)
    at: str
    announced_by: str | None = None  # the monitoring run that emitted it

    @property
    def event(self) -> DriftEvent:
        return DriftEvent.model_validate(self.model_dump(include=set(DriftEvent.model_fields)))


class RequestOutcome(Record):
    """A recorded request that trained: the challenger and whether it was promoted."""

    event_id: str
    version: int
    promoted: bool
    reasons: tuple[str, ...]
    at: str


class Skip(Record):
    """Why a retrain run did not train."""

    kind: Literal["duplicate", "stale"]
    message: str


def announce(storage: Storage, event: DriftEvent, run_id: str | None) -> RetrainRequest:
    """Record a drift event as pending before it is emitted (create-only: a re-announcement keeps the first).

    Args:
        storage: the store holding the registry.
        event: the drift, with its id (`drift_event_id`) and the champion it was measured on.
        run_id: the monitoring flow run announcing it.

    Returns:
        The record on file: this one, or the one an earlier announcement (or a retrain run) left.
    """
    request = RetrainRequest(
        **event.model_dump(),
        status="pending",
        detail="waiting for a retrain run",
        run_id=None,
        at=now_utc(),
        announced_by=run_id,
    )
    key = layout.retrain_request(event.model, event.event_id)
    try:
        storage.write_bytes(key, request.to_json().encode(), if_absent=True)
    except PreconditionFailed:
        return RetrainRequest.from_json(storage.read_bytes(key))
    faults.reached("retrain.requested")
    return request


def record_request(
    storage: Storage,
    event: DriftEvent,
    current_champion: int | None,
    run_id: str | None,
    run_ended: RunEnded = _never_ended,
) -> tuple[RetrainRequest, Skip | None]:
    """Take the event for this run (create it, or move it on from "pending") and say whether it trains.

    Args:
        storage: the store holding the registry.
        event: the event as the run received it; a pending record's own words (period, reason,
            champion) win over it.
        current_champion: the champion now.
        run_id: this flow run's id: a retry of the same run carries on where it stopped.
        run_ended: whether a run is over; an event another run took and left without an outcome when it
            ended is taken over.

    Returns:
        The request as recorded (by this run or an earlier one) and, when this run must not train, why.
    """
    key = layout.retrain_request(event.model, event.event_id)
    while True:
        etag = storage.etag(key)
        data = read_if_exists(storage, key) if etag is not None else None
        earlier = RetrainRequest.from_json(data) if data is not None else None
        taken = earlier is not None and earlier.status != "pending"
        if taken:
            outcome = layout.retrain_outcome(earlier.model, earlier.event_id)
            if not _orphaned(earlier, run_id, run_ended) or storage.exists(outcome):
                return earlier, _skip_for(earlier, run_id)
        # Past here an event another run took is orphaned: this run takes it over.
        request = _decided(earlier.event if earlier else event, current_champion, run_id)
        if taken and request.status == "accepted":
            detail = f"retraining (run {earlier.run_id} took it and ended without an outcome)"
            request = request.model_copy(update={"detail": detail})
        try:
            if earlier is None:
                storage.write_bytes(key, request.to_json().encode(), if_absent=True)
            else:
                request = request.model_copy(update={"announced_by": earlier.announced_by})
                storage.write_bytes(key, request.to_json().encode(), if_match=etag)
        except PreconditionFailed:
            continue  # another run took it between our read and our write: read what it decided
        if request.status == "stale":
            return request, Skip(kind="stale", message=f"event {event.event_id} is stale: {request.detail}")
        return request, None


def _orphaned(request: RetrainRequest, run_id: str | None, run_ended: RunEnded) -> bool:
    """Accepted by another run that is over: unless its outcome is on file, nobody will finish it."""
    if request.status != "accepted" or request.run_id is None or request.run_id == run_id:
        return False
    return run_ended(request.run_id)


def _decided(event: DriftEvent, current_champion: int | None, run_id: str | None) -> RetrainRequest:
    stale = event.champion_version is not None and event.champion_version != current_champion
    now = (
        f"the champion is now v{current_champion}" if current_champion is not None else "there is no champion"
    )
    return RetrainRequest(
        **event.model_dump(),
        status="stale" if stale else "accepted",
        detail=f"the event judged v{event.champion_version}; {now}" if stale else "retraining",
        run_id=run_id,
        at=now_utc(),
    )


def _skip_for(earlier: RetrainRequest, run_id: str | None) -> Skip | None:
    """A request another run decided is a duplicate; this run's own (a retry) carries on."""
    if earlier.run_id is not None and earlier.run_id == run_id:
        return None if earlier.status == "accepted" else Skip(kind="stale", message=earlier.detail)
    return Skip(
        kind="duplicate",
        message=f"event {earlier.event_id} ({earlier.model} {earlier.period}) was already handled by flow "
        f"run {earlier.run_id or '(not a flow run)'} at {earlier.at} ({earlier.status})",
    )


def pending_requests(
    storage: Storage, model: str, run_id: str | None = None, run_ended: RunEnded = _never_ended
) -> list[RetrainRequest]:
    """The model's drift events no retrain run has taken yet, oldest period first.

    With `run_id`, also those that run took but did not finish (a retry of the run carries on with them);
    and those another run took and did not finish before it ended (`run_ended`).
    """
    outcome = ".outcome.json"
    keys = storage.list(layout.registry(model, "retrains"))
    finished = {key.rsplit("/", 1)[1].removesuffix(outcome) for key in keys if key.endswith(outcome)}
    requests = [
        RetrainRequest.from_json(storage.read_bytes(key)) for key in keys if not key.endswith(outcome)
    ]

    def waiting(request: RetrainRequest) -> bool:
        if request.status == "pending":
            return True
        if request.event_id in finished:
            return False
        retry = run_id is not None and request.status == "accepted" and request.run_id == run_id
        return retry or _orphaned(request, run_id, run_ended)

    return sorted(filter(waiting, requests), key=lambda r: (r.period, r.at))


def record_outcome(
    storage: Storage, model: str, event_id: str, version: int, promoted: bool, reasons: tuple[str, ...]
) -> RequestOutcome:
    """Record what the request's training produced (create-only: the first outcome stands)."""
    outcome = RequestOutcome(
        event_id=event_id, version=version, promoted=promoted, reasons=reasons, at=now_utc()
    )
    try:
        storage.write_bytes(
            layout.retrain_outcome(model, event_id), outcome.to_json().encode(), if_absent=True
        )
    except PreconditionFailed:
        return RequestOutcome.from_json(storage.read_bytes(layout.retrain_outcome(model, event_id)))
    return outcome
