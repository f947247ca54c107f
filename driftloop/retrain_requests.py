"""Exactly one retraining per drift event: a deterministic event id, and a create-only record per id.

Automations do not deduplicate events, and the same drift can be announced twice (a monitoring rerun,
a retried emit). The event's id is made from what it is about — model, period, the champion it judged —
so both announcements carry the same id; the first retrain run to record that id trains, every later
one is skipped and says which run handled it. An event about a champion that has since been replaced
is recorded and skipped too: its evidence judged a model that no longer serves.
"""

from __future__ import annotations

import uuid
from typing import Literal

from driftloop import layout
from driftloop.records import Record
from driftloop.registry.champion import now_utc
from driftloop.storage import PreconditionFailed, Storage, read_if_exists

# Fixed forever: changing it would give an already-handled drift a new id.
_EVENT_NAMESPACE = uuid.UUID("6f1c2b1e-4d1a-5c8e-9a0b-2f3d4e5a6b7c")

Status = Literal["accepted", "stale"]


def drift_event_id(model: str, period: str, champion_version: int) -> str:
    """The id of "model's champion vN drifted in period": the same drift always gets the same id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{model}/{period}/v{champion_version}"))


class RetrainRequest(Record):
    """What a retrain run was asked to do, and what it decided about the request itself."""

    event_id: str
    model: str
    period: str
    champion_version: int | None  # the champion the drift was measured on
    reason: str
    status: Status
    detail: str
    run_id: str | None  # the flow run that recorded it
    at: str


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


def record_request(
    storage: Storage,
    model: str,
    period: str,
    reason: str,
    event_id: str,
    champion_version: int | None,
    current_champion: int | None,
    run_id: str | None,
) -> tuple[RetrainRequest, Skip | None]:
    """Record the request under its event id (create-only) and say whether this run trains.

    Args:
        storage: the store holding the registry.
        model: the model's registry name.
        period: the drifted period; training uses the window ending there.
        reason: why monitoring asked for a retraining.
        event_id: the drift event's id (`drift_event_id`).
        champion_version: the champion the event is about; None means "the current one".
        current_champion: the champion now.
        run_id: this flow run's id: a retry of the same run carries on where it stopped.

    Returns:
        The request as recorded (by this run or an earlier one) and, when this run must not train, why.
    """
    key = layout.retrain_request(model, event_id)
    earlier = _read(storage, key)
    if earlier is None:
        stale = champion_version is not None and champion_version != current_champion
        now = (
            f"the champion is now v{current_champion}"
            if current_champion is not None
            else "there is no champion"
        )
        request = RetrainRequest(
            event_id=event_id,
            model=model,
            period=period,
            champion_version=champion_version,
            reason=reason,
            status="stale" if stale else "accepted",
            detail=f"the event judged v{champion_version}; {now}" if stale else "retraining",
            run_id=run_id,
            at=now_utc(),
        )
        try:
            storage.write_bytes(key, request.to_json().encode(), if_absent=True)
        except PreconditionFailed:  # another run recorded it between our read and our write
            earlier = _read(storage, key)
        else:
            if stale:
                return request, Skip(kind="stale", message=f"event {event_id} is stale: {request.detail}")
            return request, None
    assert earlier is not None
    if earlier.run_id is not None and earlier.run_id == run_id:  # this run, retried: carry on
        return earlier, None if earlier.status == "accepted" else Skip(kind="stale", message=earlier.detail)
    return earlier, Skip(
        kind="duplicate",
        message=f"event {event_id} ({model} {earlier.period}) was already handled by flow run "
        f"{earlier.run_id or '(not a flow run)'} at {earlier.at} ({earlier.status})",
    )


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


def _read(storage: Storage, key: str) -> RetrainRequest | None:
    data = read_if_exists(storage, key)
    return RetrainRequest.from_json(data) if data is not None else None
