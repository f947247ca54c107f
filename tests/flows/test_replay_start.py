"""Issue 18, the replay's start: when not one period of the first training window passes the contract,
`driftloop run` starts at the next window instead of stopping with "no validated batch"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftloop.core.contract import load_contract
from driftloop.core.storage import LocalStorage
from driftloop.core.times import period_of
from driftloop.registry import Registry
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def test_a_first_window_that_broke_the_contract_is_skipped_for_the_next(
    file_source: Path, tmp_path: Path
) -> None:
    """January to March cut to 100 rows each (the contract wants thousands): all three quarantined. The
    next window, April to June, trains on May and June (April is broken in this source too)."""
    from flows.lifecycle import lifecycle_flow

    raw = yaml.safe_load(file_source.read_text())
    flights = pd.read_parquet(raw["source"]["path"])
    months = period_of(flights, load_contract(file_source).time)
    early = months.isin(["2013-01", "2013-02", "2013-03"]).to_numpy()
    thin = pd.concat([flights[early].groupby(months[early]).head(100), flights[~early]], ignore_index=True)
    thin.to_parquet(tmp_path / "flights.parquet", index=False)
    raw["source"]["path"] = str(tmp_path / "flights.parquet")
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    settings = slice_settings(str(tmp_path / "store"), contract)

    result = lifecycle_flow(replay_to="2013-07", settings=settings)

    assert [row.period for row in result.rows] == ["2013-07"]
    first = Registry(LocalStorage(settings.storage.url), "flights-delay").get(1)
    assert first.lineage.periods == ("2013-04", "2013-05", "2013-06")
    assert first.lineage.missing_periods == ("2013-04",)
    quarantined = LocalStorage(settings.storage.url).list("quarantine/flights/")
    assert {key.split("/")[2] for key in quarantined} == {"2013-01", "2013-02", "2013-03", "2013-04"}
