"""Time in any common form: an integer year, year-month text, a strftime date, epoch seconds or
milliseconds, naive or tz-aware datetimes; each reads as the instant it names, unreadable values as NaT."""

from __future__ import annotations

import pandas as pd
import pytest

from driftloop.core.contract import TimeSpec
from driftloop.core.time_formats import digits_only, format_unit, strftime_problem
from driftloop.core.times import local_times, period_of

NEW_YORK = "America/New_York"


def _read(values: list[object], fmt: str | None, zone: str = NEW_YORK, dtype: str | None = None) -> list[str]:
    frame = pd.DataFrame({"t": pd.Series(values, dtype=dtype)})
    return [str(value) for value in local_times(frame, "t", zone, fmt)]


def test_an_integer_year_is_new_year_at_midnight_in_the_contracts_zone() -> None:
    assert _read([2013, 2014, 2013], "%Y", dtype="int64") == [
        "2013-01-01 00:00:00-05:00",
        "2014-01-01 00:00:00-05:00",
        "2013-01-01 00:00:00-05:00",
    ]


def test_a_year_column_with_a_gap_reads_as_floats_and_keeps_its_missing_value() -> None:
    # pandas reads an int column with an empty cell as float64: 2013.0 must still be the year 2013
    assert _read([2013.0, None, 2013.5], "%Y") == ["2013-01-01 00:00:00-05:00", "NaT", "NaT"]


def test_digits_only_dates_and_year_month_text() -> None:
    assert _read([20130401, 20131301], "%Y%m%d", zone="UTC") == ["2013-04-01 00:00:00+00:00", "NaT"]
    year_month = _read(["2013-04", "2013-13", None], "%Y-%m", zone="UTC")
    assert year_month == ["2013-04-01 00:00:00+00:00", "NaT", "NaT"]


def test_epoch_seconds_and_milliseconds_are_instants_shown_in_the_zone() -> None:
    assert _read([1365000000, 1e30], "epoch_seconds") == ["2013-04-03 10:40:00-04:00", "NaT"]
    assert _read(["1365000000000"], "epoch_milliseconds") == ["2013-04-03 10:40:00-04:00"]


def test_naive_datetimes_are_wall_clock_and_aware_ones_are_instants() -> None:
    naive = pd.Series(pd.to_datetime(["2013-04-01 05:00"]))
    aware = naive.dt.tz_localize("UTC")
    assert _read(list(naive), None) == ["2013-04-01 05:00:00-04:00"]
    instants = local_times(pd.DataFrame({"t": aware}), "t", NEW_YORK)
    assert [str(t) for t in instants] == ["2013-04-01 01:00:00-04:00"]


def test_periods_are_cut_from_an_integer_year() -> None:
    time = TimeSpec(column="year", period="year", format="%Y")
    assert list(period_of(pd.DataFrame({"year": [2012, 2013]}), time)) == ["2012", "2013"]


@pytest.mark.parametrize(
    ("fmt", "unit", "digits"),
    [("%Y", "year", True), ("%Y-%m", "month", False), ("%b %Y", "month", False), ("%Y%m%d", "day", True),
     ("%d.%m.%Y %H:%M", "day", False)],
)  # fmt: skip
def test_what_a_format_can_tell_apart(fmt: str, unit: str, digits: bool) -> None:
    assert (format_unit(fmt), digits_only(fmt), strftime_problem(fmt)) == (unit, digits, None)


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [("%m/%d", "names no year"), ("yyyy-mm-dd", "not a strftime format")],
)
def test_a_format_that_cannot_read_times_back_says_why(fmt: str, problem: str) -> None:
    assert problem in (strftime_problem(fmt) or "")
