"""The example contracts replay end to end with nothing but the contract changed: another target, other
columns, ISO weeks instead of months, a week blocked at the gate, a leakage guard that had to be told."""

from __future__ import annotations

import pytest

from driftloop.registry import Registry
from driftloop.settings import Settings
from driftloop.storage import LocalStorage
from tests.conftest import REPO

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

RAIN_WEEKLY = REPO / "data_contracts" / "rain-weekly.yaml"
SEATTLE = REPO / "data_contracts" / "seattle-quarterly.yaml"

# Twelve weeks of training (2013-W07 is blocked: the wind sensor's 1048 mph glitch), then three replayed.
GOLDEN_RAIN = """\
week      champion  champion AUC  original AUC  drift share  retrained?  promoted?
--------  --------  ------------  ------------  -----------  ----------  ---------
2013-W13  v1        0.9925        0.9925        0.75 DRIFT   yes         no
2013-W14  v1        0.7908        0.7908        0.75 DRIFT   yes         no
2013-W15  v1        0.9165        0.9165        0.75 DRIFT   yes         yes -> v4
"""


@pytest.fixture(scope="module")
def rain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("rain")), contract=str(RAIN_WEEKLY))
    return settings, lifecycle_flow(replay_to="2013-W15", settings=settings)


def test_the_weekly_rain_replay_prints_its_table(rain: tuple[Settings, object]) -> None:
    _, result = rain
    assert result.table() == GOLDEN_RAIN.rstrip("\n")
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
quarter  champion  champion AUC  original AUC  drift share  retrained?  promoted?
-------  --------  ------------  ------------  -----------  ----------  ---------
2014-Q1  v1        0.7515        0.7515        1.00 DRIFT   yes         no
2014-Q2  v1        0.8689        0.8689        1.00 DRIFT   yes         no
2014-Q3  v1        0.6393        0.6393        1.00 DRIFT   yes         yes -> v4
2014-Q4  v4        0.7617        0.6760        1.00 DRIFT   yes         yes -> v5
2015-Q1  v5        0.7724        0.8073        1.00 DRIFT   yes         yes -> v6
2015-Q2  v6        0.8537        0.8187        1.00 DRIFT   yes         no
2015-Q3  v6        0.8224        0.6741        1.00 DRIFT   yes         no
2015-Q4  v6        0.7483        0.8051        1.00 DRIFT   yes         no
"""


def test_the_seattle_quarterly_replay_runs_whole_from_a_package_csv(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("seattle")), contract=str(SEATTLE))
    result = lifecycle_flow(settings=settings)

    assert result.table() == GOLDEN_SEATTLE.rstrip("\n")
    first = Registry(LocalStorage(settings.storage.url), "seattle-quarterly").get(1)
    assert first.lineage.periods == tuple(f"{y}-Q{q}" for y in (2012, 2013) for q in (1, 2, 3, 4))
    assert first.lineage.train_rows + first.lineage.holdout_rows == 731  # every day of 2012-2013
