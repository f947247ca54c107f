"""The retrain flow takes its own drift event and then the ones that waited while another retrain ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.core import layout
from driftloop.core.settings import Settings
from driftloop.core.storage import LocalStorage
from driftloop.lifecycle.retrain_requests import (
    DriftEvent,
    RetrainRequest,
    announce,
    drift_event_id,
    pending_requests,
    record_request,
)
from driftloop.registry import Registry
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]
MODEL = "flights-delay"


@pytest.fixture
def champion_v1(file_source: Path, tmp_path: Path) -> tuple[Settings, LocalStorage]:
    """A store whose champion v1 was trained as of 2013-03."""
    from flows.train import train_flow

    settings = slice_settings(str(tmp_path / "store"), file_source)
    train_flow(as_of="2013-03", settings=settings)
    return settings, LocalStorage(settings.storage.url)


def _march_drift(judged: int) -> DriftEvent:
    """Monitoring's event: v`judged` drifted in March 2013."""
    event_id = drift_event_id(MODEL, "2013-03", judged)
    return DriftEvent(
        event_id=event_id, model=MODEL, period="2013-03", champion_version=judged, reason="AUC fell"
    )


def test_a_retrain_run_also_handles_an_event_whose_own_run_was_cancelled(
    champion_v1: tuple[Settings, LocalStorage],
) -> None:
    from flows.retrain import retrain_flow

    settings, store = champion_v1
    # Monitoring announced a drift of v1 in March; its retrain run was cancelled (another one was running).
    event = _march_drift(1)
    waiting = event.event_id
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


def test_an_event_taken_by_a_run_that_crashed_is_trained_by_the_next_run(
    champion_v1: tuple[Settings, LocalStorage],
) -> None:
    """Prefect has the first taker as Crashed (its process was killed): its event is not lost."""
    from prefect import flow, get_client
    from prefect.states import Crashed

    from flows.retrain import retrain_flow

    settings, store = champion_v1
    event_id = (event := _march_drift(1)).event_id

    @flow(name="retrain")
    def killed() -> None: ...

    with get_client(sync_client=True) as client:
        crashed = client.create_flow_run(killed, state=Crashed(message="the process was killed"))
    record_request(store, event, 1, str(crashed.id))  # the crashed run had taken the event

    result = retrain_flow(period="2013-03", event_id=event_id, champion_version=1, settings=settings)

    taken = RetrainRequest.from_json(store.read_bytes(layout.retrain_request(MODEL, event_id)))
    assert (result.status, result.message) == ("trained", "v1 not promoted")
    assert taken.run_id != str(crashed.id) and str(crashed.id) in taken.detail
    assert store.exists(layout.retrain_outcome(MODEL, event_id))
