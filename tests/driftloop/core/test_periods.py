"""Batch periods: ISO labels of every kind, ranges, shifts, labels of times, the period just closed."""

from __future__ import annotations

import pandas as pd
import pytest

from driftloop.core.periods import (
    PeriodLabelError,
    check_period,
    last_closed_period,
    period_bounds,
    period_labels,
    period_range,
    shift_period,
)


@pytest.mark.parametrize(
    ("label", "kind"),
    [("2013-04-07", "day"), ("2013-W14", "week"), ("2020-W53", "week"), ("2013-04", "month"),
     ("2013-Q2", "quarter"), ("2013", "year")],
)  # fmt: skip
def test_a_label_of_its_kind_is_accepted_unchanged(label: str, kind: str) -> None:
    assert check_period(label, kind) == label


@pytest.mark.parametrize(
    ("label", "kind", "form"),
    [
        ("2013-4", "month", "2013-04"),
        ("2013-13", "month", "2013-04"),
        ("2013-01\n", "month", "2013-04"),  # `$` would match before a newline; fullmatch does not
        ("2013-W14", "month", "2013-04"),
        ("2013-04", "week", "2013-W14"),
        ("2013-Q5", "quarter", "2013-Q2"),
        ("2013-04", "day", "2013-04-07"),
        ("13", "year", "2013"),
    ],
)
def test_a_label_of_another_kind_says_the_expected_form(label: str, kind: str, form: str) -> None:
    with pytest.raises(PeriodLabelError, match=f"is not a {kind} label: a {kind} is written like {form}"):
        check_period(label, kind)


@pytest.mark.parametrize(
    ("label", "kind"), [("2013-02-30", "day"), ("2013-W54", "week"), ("2013-W53", "week")]
)
def test_a_well_formed_label_that_names_no_real_period_is_refused(label: str, kind: str) -> None:
    with pytest.raises(PeriodLabelError, match="is not a real"):
        check_period(label, kind)


@pytest.mark.parametrize(
    ("label", "by", "kind", "expected"),
    [
        ("2013-12", 1, "month", "2014-01"),
        ("2013-06", -14, "month", "2012-04"),
        ("2013-12-31", 1, "day", "2014-01-01"),
        ("2020-W53", 1, "week", "2021-W01"),  # 2020 has 53 ISO weeks
        ("2013-W01", -1, "week", "2012-W52"),
        ("2013-Q4", 1, "quarter", "2014-Q1"),
        ("2013", -3, "year", "2010"),
    ],
)
def test_shift_crosses_years(label: str, by: int, kind: str, expected: str) -> None:
    assert shift_period(label, by, kind) == expected


def test_range_is_inclusive_and_refuses_to_run_backwards() -> None:
    assert period_range("2012-11", "2013-02", "month") == ["2012-11", "2012-12", "2013-01", "2013-02"]
    assert period_range("2013-Q3", "2014-Q1", "quarter") == ["2013-Q3", "2013-Q4", "2014-Q1"]
    assert period_range("2013-05", "2013-05", "month") == ["2013-05"]
    with pytest.raises(PeriodLabelError, match="runs backwards"):
        period_range("2013-05", "2013-03", "month")


def test_bounds_are_local_midnights_across_a_dst_change() -> None:
    start, end = period_bounds("2013-03-10", "day", "America/New_York")  # the spring-forward day
    assert (start.isoformat(), end.isoformat()) == ("2013-03-10T00:00:00-05:00", "2013-03-11T00:00:00-04:00")


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("day", ["2012-12-31", "2013-01-01", None, "2013-12-30"]),
        ("week", ["2013-W01", "2013-W01", None, "2014-W01"]),  # Dec 31 2012 is in ISO week 1 of 2013
        ("month", ["2012-12", "2013-01", None, "2013-12"]),
        ("quarter", ["2012-Q4", "2013-Q1", None, "2013-Q4"]),
        ("year", ["2012", "2013", None, "2013"]),
    ],
)
def test_labels_of_local_times(kind: str, expected: list[str | None]) -> None:
    utc = pd.Series(
        pd.to_datetime(["2013-01-01T03:00Z", "2013-01-01T06:00Z", None, "2013-12-30T12:00Z"], utc=True)
    )
    local = utc.dt.tz_convert("America/New_York")  # the first is still Dec 31 22:00 in New York
    labels = period_labels(local, kind).tolist()
    assert [None if pd.isna(label) else label for label in labels] == expected


@pytest.mark.parametrize(
    ("now", "kind", "expected"),
    [
        ("2013-05-01T02:00Z", "month", "2013-03"),  # still April 30 in New York: March is the last closed
        ("2013-05-01T05:00Z", "month", "2013-04"),
        ("2013-04-08T12:00Z", "week", "2013-W14"),
        ("2013-04-08T12:00Z", "day", "2013-04-07"),
        ("2013-04-08T12:00Z", "quarter", "2013-Q1"),
    ],
)
def test_the_last_closed_period_is_read_in_the_contracts_zone(now: str, kind: str, expected: str) -> None:
    assert last_closed_period(pd.Timestamp(now), kind, "America/New_York") == expected
