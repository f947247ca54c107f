"""One training per drift event: the id is deterministic, each record taken once, stale events skipped,
and an event announced while another retrain ran waits in the store until a run takes it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from driftloop.core import layout
from driftloop.core.storage import LocalStorage
from driftloop.lifecycle.retrain_requests import (
    DriftEvent,
    RetrainRequest,
    announce,
    drift_event_id,
    pending_requests,
    record_outcome,
    record_request,
)

MODEL = "flights-delay"


def _drift(period: str, champion: int | None, reason: str = "drift", judged: int | None = None) -> DriftEvent:
    """The event about `judged` (default: `champion`) in `period`, as received with `champion` named."""
    event_id = drift_event_id(MODEL, period, judged or champion or 0)
    return DriftEvent(event_id=event_id, model=MODEL, period=period, champion_version=champion, reason=reason)


def test_the_same_drift_always_gets_the_same_id_and_another_drift_another() -> None:
    first = drift_event_id(MODEL, "2013-04", 1)

    assert drift_event_id(MODEL, "2013-04", 1) == first
    assert len({first, drift_event_id(MODEL, "2013-05", 1), drift_event_id(MODEL, "2013-04", 2)}) == 3


def test_a_second_run_with_the_same_event_is_skipped_naming_the_first(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = _drift("2013-04", 1, "AUC fell")

    request, first_skip = record_request(store, event, 1, "run-a")
    again, second_skip = record_request(store, event, 1, "run-b")

    assert (request.status, first_skip) == ("accepted", None)
    assert again == request  # the record on file, not a new one
    assert second_skip is not None and second_skip.kind == "duplicate"
    assert "run-a" in second_skip.message
    stored = RetrainRequest.from_json(store.read_bytes(layout.retrain_request(MODEL, event.event_id)))
    assert stored.run_id == "run-a" and stored.event == event


def test_a_retried_run_carries_on_with_its_own_request(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    record_request(store, _drift("2013-04", 1), 1, "run-a")

    _, skip = record_request(store, _drift("2013-04", 1), 1, "run-a")

    assert skip is None


def test_an_event_about_a_replaced_champion_is_recorded_and_skipped(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = _drift("2013-05", 1)

    request, skip = record_request(store, event, 2, "run-a")

    assert request.status == "stale"
    assert skip is not None and skip.kind == "stale"
    assert "judged v1" in skip.message and "now v2" in skip.message
    assert store.exists(layout.retrain_request(MODEL, event.event_id))


def test_the_first_outcome_stands(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = drift_event_id(MODEL, "2013-04", 1)

    first = record_outcome(store, MODEL, event, 2, True, ("beats the champion",))
    second = record_outcome(store, MODEL, event, 3, False, ("later",))

    assert second == first
    assert (first.version, first.promoted) == (2, True)


def test_an_announced_event_waits_as_pending_until_one_run_takes_it(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    august, september = _drift("2013-08", 2), _drift("2013-09", 2, "AUC fell")
    announce(store, september, "monitor-09")
    first = announce(store, august, "monitor-08")
    again = announce(store, _drift("2013-08", 2, "a rerun's words"), "monitor-08-rerun")

    waiting = pending_requests(store, MODEL)
    # The automation's run: the event's id and period, its champion rendered from the payload or not.
    received = _drift("2013-08", None, "(from the event)", judged=2)
    taken, skip = record_request(store, received, 2, "retrain-a")
    late, late_skip = record_request(store, _drift("2013-08", 2, "(redelivered)"), 2, "retrain-b")

    assert again == first and first.status == "pending" and first.run_id is None
    assert [r.period for r in waiting] == ["2013-08", "2013-09"]  # oldest period first
    assert skip is None and (taken.status, taken.run_id) == ("accepted", "retrain-a")
    assert (taken.reason, taken.champion_version, taken.announced_by) == ("drift", 2, "monitor-08")
    assert late == taken and late_skip is not None and late_skip.kind == "duplicate"
    assert "retrain-a" in late_skip.message
    assert [r.event_id for r in pending_requests(store, MODEL)] == [september.event_id]


def test_a_pending_event_whose_champion_was_replaced_is_taken_as_stale(tmp_path: Path) -> None:
    """v3 was promoted by the retrain that ran while this event about v2 waited."""
    store = LocalStorage(tmp_path)
    event = _drift("2013-09", 2)
    announce(store, event, "monitor-09")

    request, skip = record_request(store, event, 3, "retrain-a")

    assert (request.status, request.run_id) == ("stale", "retrain-a")
    assert skip is not None and skip.kind == "stale" and "judged v2" in skip.message
    assert pending_requests(store, MODEL) == []


def test_two_runs_taking_one_pending_event_at_once_train_it_once(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = _drift("2013-08", 2)
    announce(store, event, "monitor-08")

    def take(run: str) -> bool:
        return record_request(store, event, 2, run)[1] is None

    with ThreadPoolExecutor(max_workers=8) as pool:
        trains = list(pool.map(take, [f"retrain-{i}" for i in range(8)]))

    assert trains.count(True) == 1


def test_a_retried_run_finds_the_events_it_took_but_did_not_finish(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = _drift("2013-08", 2)
    announce(store, event, "monitor-08")
    record_request(store, event, 2, "retrain-a")  # then the run failed

    mine, others = pending_requests(store, MODEL, "retrain-a"), pending_requests(store, MODEL, "retrain-b")
    record_outcome(store, MODEL, event.event_id, 3, False, ("not better",))

    assert ([r.event_id for r in mine], others) == ([event.event_id], [])
    assert pending_requests(store, MODEL, "retrain-a") == []


def test_an_event_whose_run_ended_without_an_outcome_is_taken_over_once(tmp_path: Path) -> None:
    """The run that took it was killed: the next run trains it, and a later one finds it handled."""
    store = LocalStorage(tmp_path)
    event = _drift("2013-08", 2)
    announce(store, event, "monitor-08")
    record_request(store, event, 2, "retrain-a")  # then retrain-a's process was killed
    ended = {"retrain-a"}.__contains__

    waiting_while_a_runs = pending_requests(store, MODEL, "retrain-b")
    waiting_after_a_ended = pending_requests(store, MODEL, "retrain-b", ended)
    taken, skip = record_request(store, event, 2, "retrain-b", ended)
    # retrain-b trains, records its outcome, and ends: nobody trains the event again.
    record_outcome(store, MODEL, event.event_id, 3, True, ("beats the champion",))
    later, later_skip = record_request(store, event, 2, "retrain-c", {"retrain-a", "retrain-b"}.__contains__)

    assert waiting_while_a_runs == []
    assert [r.event_id for r in waiting_after_a_ended] == [event.event_id]
    assert skip is None and (taken.status, taken.run_id, taken.announced_by) == (
        "accepted",
        "retrain-b",
        "monitor-08",
    )
    assert "retrain-a" in taken.detail and "without an outcome" in taken.detail
    assert later_skip is not None and later_skip.kind == "duplicate" and "retrain-b" in later_skip.message
    assert later.run_id == "retrain-b"


def test_a_live_taker_keeps_its_event(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = _drift("2013-08", 2)
    record_request(store, event, 2, "retrain-a")

    _, skip = record_request(store, event, 2, "retrain-b", {"retrain-z"}.__contains__)

    assert skip is not None and skip.kind == "duplicate" and "retrain-a" in skip.message
