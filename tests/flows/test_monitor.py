"""Monitoring as the stack runs it: a scheduled run takes the period that just closed and waits for its
data; a rerun after the retraining it asked for does not ask again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.core.periods import last_closed_period
from driftloop.core.settings import PolicySettings
from driftloop.core.storage import LocalStorage
from driftloop.lifecycle.retrain_requests import pending_requests
from driftloop.registry import Registry
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def test_a_run_with_no_period_takes_the_last_closed_one_and_waits_for_its_data(
    file_source: Path, tmp_path: Path
) -> None:
    from flows.monitor import WAITING_FOR_DATA, monitor_flow

    settings = slice_settings(str(tmp_path / "store"), file_source)
    before = pd.Timestamp.now(tz="UTC")

    state = monitor_flow(None, settings, return_state=True)

    expected = last_closed_period(before, "month", "America/New_York")  # the 2013 source has no data then
    assert (state.type.value, state.name) == ("COMPLETED", WAITING_FOR_DATA)
    assert state.message.startswith(f"flights {expected}: no data in the source yet (it holds 2013-01..")
    assert "nothing ingested or quarantined" in state.message
    assert LocalStorage(settings.storage.url).list("") == []  # no batch, no quarantine, no report


def test_a_rerun_after_a_new_champion_does_not_ask_for_the_retraining_again(
    file_source: Path, tmp_path: Path
) -> None:
    """The decision on record judged v1; once v2 replaced it, the same period's rerun emits nothing."""
    from flows.monitor import monitor_flow
    from flows.train import train_flow

    settings = slice_settings(str(tmp_path / "store"), file_source).model_copy(
        update={"policy": PolicySettings(triggers=("every-period",))}
    )
    store = LocalStorage(settings.storage.url)
    train_flow(as_of="2013-03", settings=settings)
    first = monitor_flow("2013-05", settings)
    faster = settings.training.model_copy(update={"learning_rate": 0.2})  # other bytes: a v2
    replacement = train_flow(as_of="2013-03", settings=settings.model_copy(update={"training": faster}))
    registry = Registry(store, "flights-delay")
    if not replacement.promoted:
        registry.promote(replacement.version, "the retraining the event asked for (here: by hand)")

    again = monitor_flow("2013-05", settings)

    assert (first.verdict.model_version, first.decision.retrain, first.event_id is not None) == (
        1,
        True,
        True,
    )
    assert (again.verdict.model_version, again.decision) == (2, first.decision)
    assert again.event_id is None
    assert [r.event_id for r in pending_requests(store, "flights-delay")] == [first.event_id]
