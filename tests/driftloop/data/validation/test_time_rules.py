"""Time is checked like any other rule: future rows, rows outside the batch's period, columns that must
agree with the time column, and a closed schema; naive times are wall-clock times in the contract's zone."""

from __future__ import annotations

import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.core.times import local_times
from driftloop.data.validation.time_rules import contract_rules

NOW = pd.Timestamp("2026-11-24T12:00:00Z")


@pytest.fixture(scope="module")
def march(flights_table: pd.DataFrame) -> pd.DataFrame:
    return flights_table[flights_table["month"] == 3].head(200).reset_index(drop=True)


def _rules(frame: pd.DataFrame, contract: Contract, period: str | None = "2013-03") -> dict[str, str]:
    _, failures = contract_rules(frame, contract, period, NOW)
    return {f"{failure.column}:{failure.rule}": failure.observed for failure in failures}


def test_a_good_batch_breaks_no_time_rule(march: pd.DataFrame, flights_contract: Contract) -> None:
    checked, failures = contract_rules(march, flights_contract, "2013-03", NOW)
    assert (checked, failures) == (7, [])  # closed schema, future, period, four consistency rules


def test_rows_in_the_future_and_outside_the_period_are_named_with_counts(
    march: pd.DataFrame, flights_contract: Contract
) -> None:
    frame = march.copy()
    frame.loc[:2, "time_hour"] = "2031-03-05T10:00:00Z"
    frame.loc[:2, ["year", "day", "hour"]] = [2031, 5, 5]  # the other columns agree: only time is at fault
    assert _rules(frame, flights_contract) == {
        "time_hour:not_in_future": "3 of 200 rows in the future, e.g. 2031-03-05T10:00:00Z",
        "time_hour:period": "3 of 200 rows outside, e.g. 2031-03-05T10:00:00Z",
    }


def test_a_column_that_disagrees_with_the_time_is_a_consistency_failure(
    march: pd.DataFrame, flights_contract: Contract
) -> None:
    frame = march.assign(hour=(march["hour"] + 5) % 24)  # e.g. times shifted by a timezone bug upstream
    assert _rules(frame, flights_contract) == {
        "hour:consistency": "200 of 200 rows differ, e.g. 2 vs 21, 4 vs 23, 3 vs 22"
    }


def test_an_undeclared_column_is_refused_unless_the_contract_drops_or_keeps_it(
    march: pd.DataFrame, flights_contract: Contract
) -> None:
    frame = march.assign(notes="x", gate="B12")
    assert _rules(frame, flights_contract) == {"None:extra_columns": "2 undeclared: notes, gate"}
    for mode in ("drop", "keep"):
        assert _rules(frame, flights_contract.model_copy(update={"extra_columns": mode})) == {}


def test_strings_and_datetimes_give_the_same_instants() -> None:
    """The documented rule: an offset means that instant; no offset means wall-clock time in the zone."""
    zone = "America/New_York"
    strings = pd.DataFrame(
        {"t": ["2013-03-10T06:30:00Z", "2013-03-10 01:30", "2013-03-10 02:30", "nonsense"]}
    )
    aware = pd.DataFrame({"t": pd.to_datetime(["2013-03-10T06:30:00Z"], utc=True)})
    naive = pd.DataFrame({"t": pd.to_datetime(["2013-03-10 01:30"])})

    parsed = local_times(strings, "t", zone)

    assert parsed[0] == parsed[1] == local_times(aware, "t", zone)[0] == local_times(naive, "t", zone)[0]
    assert parsed[0].isoformat() == "2013-03-10T01:30:00-05:00"
    assert pd.isna(parsed[2])  # 02:30 does not exist in New York that night (clocks jump to 03:00)
    assert pd.isna(parsed[3])


def test_a_contract_with_a_time_format_and_a_one_column_key() -> None:
    """Dates written 2012/01/31 (time.format) and one row per date (a key of one column)."""
    from driftloop.core.contract import load_contract
    from driftloop.data.batches import cut_period
    from driftloop.data.sources import load_source_table
    from driftloop.data.validation import validate_batch
    from tests.conftest import REPO

    contract = load_contract(REPO / "data_contracts" / "seattle-quarterly.yaml")
    quarter = cut_period(load_source_table(contract), contract, "2012-Q1")
    assert len(quarter) == 91 and validate_batch(quarter, contract, period="2012-Q1").passed

    doubled = pd.concat([quarter, quarter.head(2)], ignore_index=True)
    failures = {(f.column, f.rule): f for f in validate_batch(doubled, contract, period="2012-Q1").failures}
    assert set(failures) == {(None, "row_count"), (None, "unique_keys")}
    assert failures[(None, "unique_keys")].observed.startswith("4 of 93 rows share their key")

    misdated = quarter.copy()
    misdated.loc[0, "date"] = "31-01-2012"
    [failure] = validate_batch(misdated, contract, period="2012-Q1").failures
    assert (failure.column, failure.rule, failure.expected) == ("date", "type", "times written as %Y/%m/%d")


def _yearly() -> Contract:
    return Contract.model_validate(
        {
            "name": "items",
            "version": 1,
            "source": {"kind": "file", "path": "items.csv"},
            "time": {"column": "year", "period": "year", "format": "%Y"},
            "target": {"name": "high", "column": "score", "positive_above": 0},
            "rows": {"min": 1},
            "columns": {"year": {"type": "int"}, "score": {"type": "float"}},
            "features": [{"name": "trend", "kind": "numeric", "derive": "year"}],
        }
    )


def test_an_integer_year_that_names_no_year_or_another_year_is_named() -> None:
    frame = pd.DataFrame({"year": [2013, 20135, 2014, 2013], "score": [1.0, 2.0, 3.0, 4.0]})
    checked, failures = contract_rules(frame, _yearly(), "2013", NOW)
    assert checked == 4  # closed schema, readable times, future, period
    assert {f"{failure.column}:{failure.rule}": failure.observed for failure in failures} == {
        "year:type": "1 of 4 rows name no time, e.g. 20135",
        "year:period": "1 of 4 rows outside, e.g. 2014",
    }
