"""The retrain flow takes its own drift event and then the ones that waited while another retrain ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop import layout
from driftloop.registry import Registry
from driftloop.retrain_requests import (
    DriftEvent,
    RetrainRequest,
    announce,
    drift_event_id,
    pending_requests,
)
from driftloop.storage import LocalStorage
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]
MODEL = "flights-delay"


def test_a_retrain_run_also_handles_an_event_whose_own_run_was_cancelled(
    file_source: Path, tmp_path: Path
) -> None:
    from flows.retrain import retrain_flow
    from flows.train import train_flow

    settings = slice_settings(str(tmp_path / "store"), file_source)
    store = LocalStorage(settings.storage.url)
    train_flow(as_of="2013-03", settings=settings)
    # Monitoring announced a drift of v1 in March; its retrain run was cancelled (another one was running).
    waiting = drift_event_id(MODEL, "2013-03", 1)
    event = DriftEvent(event_id=waiting, model=MODEL, period="2013-03", champion_version=1, reason="AUC fell")
    announce(store, event, "monitor-run")
    # The run that was running: an event about a v7 that is not the champion, so it trains nothing itself.
    own = drift_event_id(MODEL, "2013-03", 7)

    state = retrain_flow(
        period="2013-03", event_id=own, champion_version=7, settings=settings, return_state=True
    )

    result = state.result()
    taken = RetrainRequest.from_json(store.read_bytes(layout.retrain_request(MODEL, waiting)))
    assert (result.status, [r.status for r in result.pending_handled]) == ("stale", ["trained"])
    assert result.pending_handled[0].event_id == waiting
    assert (taken.status, taken.run_id, taken.announced_by) == (
        "accepted",
        str(state.state_details.flow_run_id),
        "monitor-run",
    )
    assert store.exists(layout.retrain_outcome(MODEL, waiting))
    assert pending_requests(store, MODEL) == []
    assert [v.version for v in Registry(store, MODEL).versions()] == [1]  # the same window: the same model

    again = retrain_flow(period="2013-03", event_id=waiting, champion_version=1, settings=settings)
    assert (again.status, again.pending_handled) == ("duplicate", ())
