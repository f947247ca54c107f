"""The contract's time column as tz-aware times in the contract's timezone.

One documented rule for every input: a time with an offset (`2013-01-01T10:00:00Z`, a tz-aware
datetime) is that instant; a time without one (`2013-01-01 05:00`, a naive datetime) is wall-clock
time in the contract's timezone. A wall-clock time that does not exist or is ambiguous there (a DST
change) and anything that does not parse become NaT, which the gate reports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from driftloop.core.periods import period_labels
from driftloop.core.time_formats import EPOCH_FORMATS

if TYPE_CHECKING:
    from driftloop.core.contract import TimeSpec

# An offset after a clock time: "…10:00Z", "…10:00:00+01:00"; a bare date such as 2013-04-07 has none.
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def local_times(frame: pd.DataFrame, column: str, timezone: str, fmt: str | None = None) -> pd.Series:
    """The time column parsed and converted to `timezone` (unparseable -> NaT).

    `fmt` is the contract's `time.format`: a strftime format for text or digits-only numbers that are not
    ISO-8601 (2013/04/01, an integer year 2013, 20130401; read as wall-clock time), or epoch seconds /
    milliseconds (instants).
    """
    raw = frame[column]
    if fmt in EPOCH_FORMATS:
        return _by_distinct(raw, lambda values: _epoch(values, EPOCH_FORMATS[fmt])).dt.tz_convert(timezone)
    text = raw.dtype == object or isinstance(raw.dtype, pd.StringDtype)
    if fmt is not None and (text or _plain_numbers(raw)):
        return _by_distinct(raw, lambda values: _localize(_strftime(values, fmt), timezone))
    if text:
        # Timestamps repeat (one per scheduled hour): parse each distinct string once.
        codes, uniques = pd.factorize(raw)
        texts = pd.Series(uniques, dtype=object).astype(str).str.strip()
        parsed = pd.to_datetime(texts, utc=True, errors="coerce", format="ISO8601")
        naive = ~texts.str.contains(_OFFSET)
        if naive.any():
            wall = parsed[naive].dt.tz_localize(None)
            parsed[naive] = _localize(wall, timezone).dt.tz_convert("UTC")
        # append one NaT so that code -1 (a missing value) indexes it instead of failing on an empty array
        lookup = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
        return pd.to_datetime(pd.Series(lookup[codes], index=raw.index), utc=True).dt.tz_convert(timezone)
    if not pd.api.types.is_datetime64_any_dtype(raw):
        return pd.Series(pd.NaT, index=raw.index, dtype=f"datetime64[ns, {timezone}]")
    if raw.dt.tz is None:
        return _localize(raw, timezone)
    return raw.dt.tz_convert(timezone)


def _localize(wall: pd.Series, timezone: str) -> pd.Series:
    return wall.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")


def _plain_numbers(raw: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)


def _by_distinct(raw: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`parse` applied once per distinct value (a year or a day repeats on many rows); NaT where missing."""
    codes, uniques = pd.factorize(raw)
    parsed = parse(pd.Series(uniques, dtype=raw.dtype if _plain_numbers(raw) else object))
    zone = parsed.dt.tz
    instants = parsed.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]")
    lookup = np.append(instants, np.datetime64("NaT", "ns"))  # code -1, a missing value, picks the NaT
    return pd.to_datetime(pd.Series(lookup[codes], index=raw.index), utc=True).dt.tz_convert(zone)


def _epoch(values: pd.Series, unit: str) -> pd.Series:
    """Epoch numbers (or their text) as UTC instants; beyond pandas' years 1677-2262 -> NaT."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    limit = pd.Timestamp.max.value / _NANOSECONDS[unit]
    numbers = numbers.where(numbers.abs() < limit)
    return pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")


_NANOSECONDS = {"s": 1_000_000_000, "ms": 1_000_000}


def _strftime(values: pd.Series, fmt: str) -> pd.Series:
    """Text, or whole numbers written as digits (2013, 20130401), read with a strftime format."""
    if _plain_numbers(values):
        numbers = values.to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
        digits = np.where(whole, numbers, 0).astype(np.int64).astype(str)
        values = pd.Series(digits, dtype=object).where(whole)
    return pd.to_datetime(values, format=fmt, errors="coerce")


class MissingTimeColumn(LookupError):
    """A table without the contract's time column: no row can be put in a period (exit 3, one line)."""


DELIMITERS = (";", "\t", "|")  # what a CSV read with commas shows in its one column's name when it used these


def _require_time_column(frame: pd.DataFrame, column: str) -> None:
    if column in frame.columns:
        return
    names = [str(name) for name in frame.columns]
    hint = ""
    if len(names) == 1 and any(mark in names[0] for mark in DELIMITERS):
        hint = "; the file has one column: are its values separated by something other than commas?"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    raise MissingTimeColumn(f"no column {column!r} (the contract's time column) among {shown}{hint}")


def period_of(frame: pd.DataFrame, time: TimeSpec) -> pd.Series:
    """Each row's period label under the contract's time spec, cut in its timezone (NA where unreadable).

    The one way a row gets its period: ingest cuts batches with it, the gate checks rows against it.

    Raises:
        MissingTimeColumn: `frame` has no time column.
    """
    _require_time_column(frame, time.column)
    return period_labels(local_times(frame, time.column, time.timezone, time.format), time.period)
