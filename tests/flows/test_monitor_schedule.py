"""A scheduled monitoring run names no period: it takes the one that just closed, and waits for its data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.periods import last_closed_period
from driftloop.storage import LocalStorage
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
