"""Batch periods: a data set arrives by day, ISO week, month, quarter or year, as its contract says.

A period is named by an ISO-style label (`2013-04-07`, `2013-W14`, `2013-04`, `2013-Q2`, `2013`) and
is cut in the contract's timezone. Every window, holdout and replay step is counted in periods of
one kind; nothing else in driftloop parses a label.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, get_args

import numpy as np
import pandas as pd

PeriodKind = Literal["day", "week", "month", "quarter", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = get_args(PeriodKind)

EXAMPLES: dict[PeriodKind, str] = {
    "day": "2013-04-07",
    "week": "2013-W14",
    "month": "2013-04",
    "quarter": "2013-Q2",
    "year": "2013",
}
_PATTERNS: dict[PeriodKind, re.Pattern[str]] = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}
# pandas frequencies whose periods are exactly ours: weeks run Monday..Sunday, as ISO weeks do.
_FREQ: dict[PeriodKind, str] = {
    "day": "D",
    "week": "W-SUN",
    "month": "M",
    "quarter": "Q-DEC",
    "year": "Y-DEC",
}


class PeriodLabelError(ValueError):
    """A period label that is not of the expected kind; the message shows the expected form."""


def _period(label: str, kind: PeriodKind) -> pd.Period:
    match = _PATTERNS[kind].fullmatch(label) if isinstance(label, str) else None
    if match is None:
        raise PeriodLabelError(f"{label!r} is not a {kind} label: a {kind} is written like {EXAMPLES[kind]}")
    numbers = [int(part) for part in match.groups()]
    try:
        if kind == "week":
            start = dt.date.fromisocalendar(numbers[0], numbers[1], 1)
        elif kind == "day":
            start = dt.date(*numbers)
        elif kind == "quarter":
            start = dt.date(numbers[0], 3 * numbers[1] - 2, 1)
        elif kind == "month":
            start = dt.date(numbers[0], numbers[1], 1)
        else:
            start = dt.date(numbers[0], 1, 1)
    except ValueError as error:
        raise PeriodLabelError(f"{label!r} is not a real {kind}: {error}") from None
    return pd.Period(start, freq=_FREQ[kind])


def _label(period: pd.Period, kind: PeriodKind) -> str:
    start = period.start_time
    if kind == "day":
        return f"{start:%Y-%m-%d}"
    if kind == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return f"{start:%Y-%m}"
    if kind == "quarter":
        return f"{start.year}-Q{period.quarter}"
    return f"{start.year}"


def check_period(label: str, kind: PeriodKind) -> str:
    """Return `label` if it names a real period of `kind`, else raise `PeriodLabelError`."""
    return _label(_period(label, kind), kind)


def shift_period(label: str, periods: int, kind: PeriodKind) -> str:
    """The label `periods` periods after (or before, if negative) `label`."""
    return _label(_period(label, kind) + periods, kind)


def period_range(first: str, last: str, kind: PeriodKind) -> list[str]:
    """Labels from `first` to `last` inclusive; a `last` before `first` is an error, not an empty list."""
    start, end = _period(first, kind), _period(last, kind)
    if end < start:
        raise PeriodLabelError(f"period range {first}..{last} runs backwards")
    return [_label(start + step, kind) for step in range((end - start).n + 1)]


def period_bounds(label: str, kind: PeriodKind, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the period as tz-aware instants in `timezone`."""
    period = _period(label, kind)
    start = period.start_time.tz_localize(timezone)
    end = (period + 1).start_time.tz_localize(timezone)
    return start, end


def period_labels(local_times: pd.Series, kind: PeriodKind) -> pd.Series:
    """The period label of each time (already converted to the contract's timezone); NaT gives NA.

    Labelled once per distinct time (a month of flights holds a few hundred scheduled hours among its
    hundreds of thousands of rows), then spread to the rows.
    """
    wall = local_times.dt.tz_localize(None) if local_times.dt.tz is not None else local_times
    codes, uniques = pd.factorize(wall)
    distinct = pd.Series(uniques)
    if kind == "month":  # by arithmetic: 100x faster than strftime
        labels = (
            distinct.dt.year.astype("Int64").astype(str)
            + "-"
            + distinct.dt.month.astype("Int64").astype(str).str.zfill(2)
        ).to_numpy(dtype=object)
        missing: object = np.nan
    else:
        labels = np.array(
            [_label(period, kind) for period in distinct.dt.to_period(_FREQ[kind])], dtype=object
        )
        missing = None
    values = np.append(labels, missing)[codes]  # code -1 (NaT) takes the trailing missing marker
    return pd.Series(values, index=local_times.index, dtype=object)


def last_closed_period(now: pd.Timestamp, kind: PeriodKind, timezone: str) -> str:
    """The newest period fully over at `now` (read in `timezone`): what a scheduled run processes."""
    local = (
        now.tz_convert(timezone) if now.tzinfo is not None else now.tz_localize("UTC").tz_convert(timezone)
    )
    current = pd.Period(local.tz_localize(None), freq=_FREQ[kind])
    return _label(current - 1, kind)
