"""The example contracts replay end to end with nothing but the contract changed: another target, other
columns, ISO weeks instead of months, a week blocked at the gate, a leakage guard that had to be told."""

from __future__ import annotations

import pytest

from driftloop.core.settings import Settings
from driftloop.core.storage import LocalStorage
from driftloop.registry import Registry
from tests.conftest import REPO

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

RAIN_WEEKLY = REPO / "data_contracts" / "rain-weekly.yaml"
SEATTLE = REPO / "data_contracts" / "seattle-quarterly.yaml"

# Twelve weeks of training (2013-W07 is blocked: the wind sensor's 1048 mph glitch), then three replayed.
GOLDEN_RAIN = """\
week      champion  champion AUC  original AUC  drift index  retrained?  promoted?  why
--------  --------  ------------  ------------  -----------  ----------  ---------  -----------------
2013-W13  v1        0.9925        0.9925        0.31         no          -
2013-W14  v1        0.7908        0.7908        0.56         yes         no         AUC 0.791 < 0.952
2013-W15  v1        0.9165        0.9165        0.43         yes         yes -> v3  AUC 0.916 < 0.952
"""


@pytest.fixture(scope="module")
def rain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("rain")), contract=str(RAIN_WEEKLY))
    return settings, lifecycle_flow(replay_to="2013-W15", settings=settings)


def test_the_weekly_rain_replay_prints_its_table(rain: tuple[Settings, object]) -> None:
    _, result = rain
    assert result.table() == GOLDEN_RAIN.rstrip("\n"), "the table now reads:\n" + result.table()
    assert result.period_kind == "week"


def test_the_blocked_week_is_named_in_the_first_models_lineage(rain: tuple[Settings, object]) -> None:
    settings, _ = rain
    first = Registry(LocalStorage(settings.storage.url), "rain-weekly").get(1)
    assert first.lineage.missing_periods == ("2013-W07",)
    assert first.lineage.periods[0] == "2013-W01" and first.lineage.periods[-1] == "2013-W12"


def test_the_model_card_speaks_of_rain_not_flights(rain: tuple[Settings, object]) -> None:
    settings, _ = rain
    card = Registry(LocalStorage(settings.storage.url), "rain-weekly").card(1)
    assert card.startswith("# Model card: rain-weekly — predicts `raining`")
    assert "`raining`: `precip` > 0" in card and "(weeks)" in card
    assert "delay" not in card.lower() and "flight" not in card.lower()


# Daily weather in Seattle (vega_datasets), by quarter, dates written 2012/01/31: the whole replay.
GOLDEN_SEATTLE = """\
quarter  champion  champion AUC  original AUC  drift index  retrained?  promoted?  why
-------  --------  ------------  ------------  -----------  ----------  ---------  -----
2014-Q1  v1        0.7515        0.7515        0.33         no          -
2014-Q2  v1        0.8689        0.8689        0.28         no          -
2014-Q3  v1        0.6393        0.6393        0.64         no          -
2014-Q4  v1        0.6760        0.6760        0.17         no          -
2015-Q1  v1        0.8073        0.8073        0.27         no          -
2015-Q2  v1        0.8187        0.8187        0.35         no          -
2015-Q3  v1        0.6741        0.6741        0.60         no          -
2015-Q4  v1        0.8051        0.8051        0.22         yes         no         age 8
"""


def test_the_seattle_quarterly_replay_runs_whole_from_a_package_csv(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("seattle")), contract=str(SEATTLE))
    result = lifecycle_flow(settings=settings)

    assert result.table() == GOLDEN_SEATTLE.rstrip("\n"), "the table now reads:\n" + result.table()
    first = Registry(LocalStorage(settings.storage.url), "seattle-quarterly").get(1)
    assert first.lineage.periods == tuple(f"{y}-Q{q}" for y in (2012, 2013) for q in (1, 2, 3, 4))
    assert first.lineage.train_rows + first.lineage.holdout_rows == 731  # every day of 2012-2013
