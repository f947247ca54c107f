"""One training per drift event: the id is deterministic, the record create-only, stale events skipped."""

from __future__ import annotations

from pathlib import Path

from driftloop import layout
from driftloop.retrain_requests import RetrainRequest, drift_event_id, record_outcome, record_request
from driftloop.storage import LocalStorage

MODEL = "flights-delay"


def test_the_same_drift_always_gets_the_same_id_and_another_drift_another() -> None:
    first = drift_event_id(MODEL, "2013-04", 1)

    assert drift_event_id(MODEL, "2013-04", 1) == first
    assert len({first, drift_event_id(MODEL, "2013-05", 1), drift_event_id(MODEL, "2013-04", 2)}) == 3


def test_a_second_run_with_the_same_event_is_skipped_naming_the_first(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = drift_event_id(MODEL, "2013-04", 1)

    request, first_skip = record_request(store, MODEL, "2013-04", "AUC fell", event, 1, 1, "run-a")
    again, second_skip = record_request(store, MODEL, "2013-04", "AUC fell", event, 1, 1, "run-b")

    assert (request.status, first_skip) == ("accepted", None)
    assert again == request  # the record on file, not a new one
    assert second_skip is not None and second_skip.kind == "duplicate"
    assert "run-a" in second_skip.message
    stored = RetrainRequest.from_json(store.read_bytes(layout.retrain_request(MODEL, event)))
    assert stored.run_id == "run-a"


def test_a_retried_run_carries_on_with_its_own_request(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = drift_event_id(MODEL, "2013-04", 1)
    record_request(store, MODEL, "2013-04", "drift", event, 1, 1, "run-a")

    _, skip = record_request(store, MODEL, "2013-04", "drift", event, 1, 1, "run-a")

    assert skip is None


def test_an_event_about_a_replaced_champion_is_recorded_and_skipped(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = drift_event_id(MODEL, "2013-05", 1)

    request, skip = record_request(store, MODEL, "2013-05", "drift", event, 1, 2, "run-a")

    assert request.status == "stale"
    assert skip is not None and skip.kind == "stale"
    assert "judged v1" in skip.message and "now v2" in skip.message
    assert store.exists(layout.retrain_request(MODEL, event))


def test_the_first_outcome_stands(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    event = drift_event_id(MODEL, "2013-04", 1)

    first = record_outcome(store, MODEL, event, 2, True, ("beats the champion",))
    second = record_outcome(store, MODEL, event, 3, False, ("later",))

    assert second == first
    assert (first.version, first.promoted) == (2, True)
