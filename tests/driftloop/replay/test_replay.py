"""The replay table is made from the rows it is given; the plan walks only the periods that hold data."""

from __future__ import annotations

import math

import pytest

from driftloop.lifecycle.step import PeriodOutcome
from driftloop.replay.plan import NothingToReplay, later_window, plan_replay
from driftloop.replay.table import headers, render_table, table_records

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def row(month: str, **changes: object) -> PeriodOutcome:
    values: dict[str, object] = {
        "period": month,
        "status": "ok",
        "champion": "v1",
        "champion_auc": 0.7123,
        "original_auc": 0.7123,
        "drift_index": 0.1,
        "drifted": False,
        "retrained": False,
        "promoted": False,
    }
    values.update(changes)
    return PeriodOutcome.model_validate(values)


def year() -> list[PeriodOutcome]:
    return [
        row("2013-04"),
        row("2013-05", drift_index=1.61, drifted=True, retrained=True, promoted=True, new_champion="v2",
            alarms=("drift",), why="drift 1.61: carrier"),
        row("2013-06", champion="v2", champion_auc=0.6991, original_auc=0.6512),
        row("2013-07", status="blocked", champion="v2", champion_auc=None, original_auc=None,
            drift_index=None),
        row("2013-08", champion="v2", champion_auc=0.6804, original_auc=0.6301, drift_index=0.72,
            retrained=True, alarms=("performance",), why="AUC 0.680 < 0.688"),
        row("2013-09", champion="v2", champion_auc=math.nan, original_auc=0.62),
        row("2013-10", champion="v3", champion_auc=0.7011, original_auc=0.6107),
        row("2013-11", champion="v3", champion_auc=0.7055, original_auc=0.6002, drift_index=0.3),
    ]  # fmt: skip


def _line(table: str, month: str) -> str:
    [line] = [line for line in table.splitlines() if line.startswith(month)]
    return line


def test_render_table_has_every_month_and_the_champion() -> None:
    rows = year()

    table = render_table(rows)
    lines = table.splitlines()

    assert lines[0].split()[:2] == ["month", "champion"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(rows)
    for one in rows:
        assert _line(table, one.period).split()[1] == one.champion
    assert _line(table, "2013-04").split()[:4] == ["2013-04", "v1", "0.7123", "0.7123"]
    assert _line(table, "2013-06").split()[:4] == ["2013-06", "v2", "0.6991", "0.6512"]


def test_a_blocked_month_shows_blocked_and_no_auc() -> None:
    table = render_table(year())

    blocked = _line(table, "2013-07").split()
    assert blocked == ["2013-07", "v2", "-", "-", "blocked", "no", "-"]
    assert "blocked" not in _line(table, "2013-06")


def test_drift_retrain_and_promotion_cells() -> None:
    table = render_table(year())

    promoted = ["1.61", "DRIFT", "yes", "yes", "->", "v2", "drift", "1.61:", "carrier"]
    assert _line(table, "2013-05").split()[4:] == promoted
    # retrained on a performance alarm (no drift), not promoted
    assert _line(table, "2013-08").split()[4:] == ["0.72", "yes", "no", "AUC", "0.680", "<", "0.688"]
    assert _line(table, "2013-04").split()[4:] == ["0.10", "no", "-"]
    assert _line(table, "2013-09").split()[2] == "-"  # NaN AUC is shown as missing, not "nan"


def test_drift_marks_the_index_alarm_and_prediction_drift_apart() -> None:
    def period(index: float, drifted: bool, prediction_drifted: bool) -> PeriodOutcome:
        return PeriodOutcome(
            period="2013-06", status="ok", champion="v2", champion_auc=0.7, drift_index=index,
            drifted=drifted, prediction_drifted=prediction_drifted, alarms=("drift",),
            why="prediction drift 0.115 > 0.114",
        )  # fmt: skip

    def cell(row: PeriodOutcome) -> str:
        return table_records([row])[0]["drift index"]

    assert cell(period(0.58, drifted=False, prediction_drifted=True)) == "0.58 pred-drift"  # not DRIFT
    assert cell(period(1.0, drifted=True, prediction_drifted=False)) == "1.00 DRIFT"
    assert cell(period(1.23, drifted=True, prediction_drifted=True)) == "1.23 DRIFT pred-drift"
    assert cell(period(0.58, drifted=False, prediction_drifted=False)) == "0.58"
    line = _line(render_table([period(0.58, drifted=False, prediction_drifted=True)]), "2013-06")
    assert "DRIFT" not in line and line.split()[4:7] == ["0.58", "pred-drift", "no"]


def test_columns_are_aligned() -> None:
    lines = render_table(year()).splitlines()
    start = lines[0].index("drift index")

    for line in lines[2:]:
        assert line[start - 2 : start] == "  "
        assert line[start] != " "


def test_render_table_without_rows_is_just_the_header() -> None:
    assert render_table([]).splitlines()[0].split("  ")[0] == "month"
    assert len(render_table([]).splitlines()) == 2


def test_table_records_match_the_table() -> None:
    records = table_records(year())

    assert list(records[0]) == headers("month")
    assert records[3]["drift index"] == "blocked"
    assert records[4]["why"] == "AUC 0.680 < 0.688"
    assert records[1]["promoted?"] == "yes -> v2"
    assert [r["month"] for r in records] == [r.period for r in year()]


def test_the_plan_trains_on_the_first_window_and_replays_the_rest() -> None:
    available = ["2013-01", "2013-02", "2013-03", "2013-04", "2013-06", "2013-07"]
    plan = plan_replay(available, "month", window=3)
    assert plan.initial == ("2013-01", "2013-02", "2013-03")
    assert plan.replay == ("2013-04", "2013-06", "2013-07")
    assert plan.gaps == ("2013-05",)  # named once, never ingested


def test_the_plan_counts_in_the_contracts_period() -> None:
    weeks = [f"2013-W{week:02d}" for week in range(1, 11)]
    plan = plan_replay(weeks, "week", window=4, replay_to="2013-W06")
    assert plan.initial == ("2013-W01", "2013-W02", "2013-W03", "2013-W04")
    assert plan.replay == ("2013-W05", "2013-W06") and plan.gaps == ()


def test_nothing_to_replay_says_where_the_data_ends() -> None:
    from driftloop.replay.plan import NothingToReplay

    with pytest.raises(NothingToReplay, match="the data ends at 2013-03"):
        plan_replay(["2013-01", "2013-02", "2013-03"], "month", window=3)


def test_the_window_after_one_that_broke_the_contract_trains_on_the_next_periods() -> None:
    available = [f"2013-{month:02d}" for month in range(1, 13)]
    plan = plan_replay(available, "month", window=3, replay_to="2013-09")

    later = later_window(plan, available, "month", window=3, replay_to="2013-09")

    assert later.initial == ("2013-04", "2013-05", "2013-06")
    assert later.replay == ("2013-07", "2013-08", "2013-09")
    with pytest.raises(NothingToReplay, match=r"passes the data contract up to 2013-06 .* nothing to replay"):
        later_window(later, available, "month", window=3, replay_to="2013-09")
