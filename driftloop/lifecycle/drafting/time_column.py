"""The time column of a draft: how its values are written, the period, rows per period, the windows, and
the calendar features worth deriving from it.

Every candidate form is read by `driftloop.core.times.local_times`, the one reader of time columns, so a
form is chosen only when the gate and the features will read every value the same way.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from driftloop.core.contract import CalendarFeature, ColumnType, FeatureDecl, WindowSpec
from driftloop.core.periods import PERIOD_KINDS, PeriodKind, period_labels, period_range
from driftloop.core.time_formats import EPOCH_FORMATS, format_unit
from driftloop.core.times import local_times
from driftloop.data.validation.suite import ISO_8601
from driftloop.data.windows import DEFAULT_WINDOWS
from driftloop.lifecycle.drafting.records import DraftRefused, PeriodChoice, RowBounds, TimeForm

_DATES = ("%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y%m%d")
TEXT_FORMATS = (
    *(date + clock for date in _DATES for clock in ("", " %H:%M:%S", " %H:%M")),
    "%Y-%m",
    "%Y/%m",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y%m%d%H%M%S",
)  # tried in this order on text that is not ISO-8601: the first that reads every value wins
NUMBER_FORMATS = ("%Y", "%Y%m%d", "%Y%m", "epoch_seconds", "epoch_milliseconds")  # on whole numbers, in order
PLAUSIBLE_YEARS = (1900, 2100)  # a form that reads a value outside these years is the wrong form
EPOCH_YEARS = (1973, 2100)  # epoch numbers from 100,000,000 s on: a small count is no time since 1970
MIN_PERIODS = 12  # the period: the coarsest that gives at least this many periods ...
PERIOD_ROWS = 300  # ... of at least this many rows (median)
ROWS_MIN_SHARE = 0.5  # rows.min: this share of the 10th percentile of rows per period
ROWS_MAX_FACTOR = 1.5  # rows.max: this multiple of the 90th percentile
HOLDOUT_ROWS = 150  # the holdout: enough periods for this many rows to judge a model on
_PROBE_ZONE = "Asia/Kathmandu"  # +05:45: a time that reads as the same instant here as in UTC has an offset
_ZERO = pd.Timedelta(0)
_HOUR = pd.Timedelta(hours=1)


def infer_time_form(values: pd.Series, column: str) -> TimeForm:
    """How a time column's values are written: datetime values, ISO-8601 text, the first of `TEXT_FORMATS`
    that reads every value, or whole numbers in the first of `NUMBER_FORMATS` that does.

    Raises:
        DraftRefused: no value, or values that read in no form tried.
    """
    known = values.dropna()
    if known.empty:
        raise DraftRefused(f"--time {column}: the column holds no value")
    if pd.api.types.is_datetime64_any_dtype(known):
        zone = known.dt.tz
        return TimeForm(
            column_type="datetime",
            format=None,
            written=f"datetime values {f'in {zone}' if zone is not None else 'without a zone'}",
            instants=zone is not None,
            timezone=str(zone) if zone is not None else "UTC",
        )
    distinct = pd.Series(pd.unique(known), dtype=known.dtype)
    if pd.api.types.is_bool_dtype(distinct):
        raise DraftRefused(f"--time {column}: the column holds true/false, not times")
    if pd.api.types.is_numeric_dtype(distinct):
        return _number_form(distinct, column)
    texts = distinct.astype(str)
    if texts.str.fullmatch(ISO_8601).all() and _reads(texts, None):
        return _iso_form(texts)
    readers = [fmt for fmt in TEXT_FORMATS if _reads(texts, fmt)]
    if readers:
        fmt = readers[0]
        return TimeForm(
            column_type="datetime",
            format=fmt,
            written=f"text like {texts.iloc[0]}, not ISO-8601",
            instants=False,
            timezone="UTC",
            also_reads=tuple(other for other in readers[1:] if format_unit(other) == format_unit(fmt)),
        )
    raise DraftRefused(
        f"--time {column}: values such as {', '.join(texts.head(3))} read in no form tried (ISO-8601, "
        f"{', '.join(TEXT_FORMATS[:4])} and {len(TEXT_FORMATS) - 4} more strftime formats, years, yyyymmdd "
        "numbers, epoch seconds or milliseconds); write time.format by hand (docs/data-contracts.md)"
    )


def _reads(values: pd.Series, fmt: str | None) -> bool:
    """Whether `local_times` reads every value under `fmt`, each in a plausible year."""
    times = local_times(pd.DataFrame({"t": values}), "t", "UTC", fmt)
    years = EPOCH_YEARS if fmt in EPOCH_FORMATS else PLAUSIBLE_YEARS
    return bool(times.notna().all() and times.dt.year.between(*years).all())


def _iso_form(texts: pd.Series) -> TimeForm:
    """ISO-8601 text: instants when every value carries an offset (it then reads the same in any zone)."""
    frame = pd.DataFrame({"t": texts})
    same = (local_times(frame, "t", "UTC") == local_times(frame, "t", _PROBE_ZONE)).to_numpy()
    if not same.any():
        return TimeForm(
            column_type="datetime",
            format=None,
            written="ISO-8601 text without an offset",
            instants=False,
            timezone="UTC",
        )
    offsets = sorted({pd.Timestamp(text).utcoffset() or _ZERO for text in texts[same].head(2000)})
    shown = tuple(_offset_text(offset) for offset in offsets)
    zone = "UTC"
    if len(offsets) == 1 and offsets[0] != _ZERO and offsets[0] % _HOUR == _ZERO:
        zone = f"Etc/GMT{-int(offsets[0] / _HOUR):+d}"  # POSIX zones count the other way: +01:00 is Etc/GMT-1
    some = "" if same.all() else f"; {int((~same).sum()):,} distinct values carry none"
    return TimeForm(
        column_type="datetime",
        format=None,
        written=f"ISO-8601 text with offset {', '.join(shown)}{some}",
        instants=bool(same.all()),
        timezone=zone,
        offsets=shown,
    )


def _offset_text(offset: pd.Timedelta) -> str:
    if offset == _ZERO:
        return "Z"
    minutes = int(offset / pd.Timedelta(minutes=1))
    return f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _number_form(distinct: pd.Series, column: str) -> TimeForm:
    numbers = distinct.to_numpy(dtype=float)
    column_type: ColumnType = "int" if pd.api.types.is_integer_dtype(distinct) else "float"
    if np.all(numbers == np.floor(numbers)):
        for fmt in NUMBER_FORMATS:
            if _reads(distinct, fmt):
                return TimeForm(
                    column_type=column_type,
                    format=fmt,
                    written=_numbers_written(fmt, int(numbers[0])),
                    instants=fmt in EPOCH_FORMATS,
                    timezone="UTC",
                )
    shown = ", ".join(f"{value:g}" for value in numbers[:3])
    raise DraftRefused(
        f"--time {column}: numbers such as {shown} read as no time: not years (2013), yyyymmdd (20130401), "
        f"yyyymm, epoch seconds or milliseconds of the years {PLAUSIBLE_YEARS[0]}-{PLAUSIBLE_YEARS[1]}"
    )


def _numbers_written(fmt: str, example: int) -> str:
    if fmt in EPOCH_FORMATS:
        return f"{fmt.replace('_', ' ')} since 1970 (e.g. {example})"
    if fmt == "%Y":
        return f"integer years (e.g. {example})"
    return f"digits-only dates (e.g. {example})"


def finest_period(form: TimeForm) -> PeriodKind:
    """The finest period the form tells apart: a year for `%Y`, a month for `%Y-%m`, else a day."""
    if form.format is None or form.format in EPOCH_FORMATS:
        return "day"
    return format_unit(form.format)


def choose_period(times: pd.Series, form: TimeForm, asked: PeriodKind | None = None) -> PeriodChoice:
    """The period asked for; else the coarsest giving `MIN_PERIODS` periods of `PERIOD_ROWS` rows (median),
    else the coarsest giving `MIN_PERIODS` periods, else the finest the times tell apart.

    Raises:
        DraftRefused: the period asked for is finer than the times tell apart; no time reads.
    """
    finest = finest_period(form)
    kinds = PERIOD_KINDS[PERIOD_KINDS.index(finest) :]
    if asked is not None and asked not in kinds:
        raise DraftRefused(
            f"--period {asked}: the times are {form.written}, which name no finer time than a {finest}: "
            f"use --period {' or '.join(kinds)}"
        )
    counts = {kind: _period_counts(times, kind) for kind in kinds}
    if not counts[finest]:
        raise DraftRefused("--time: not one value of the time column reads as a time")
    span = {kind: len(period_range(min(held), max(held), kind)) for kind, held in counts.items()}
    median = {kind: float(np.median(list(held.values()))) for kind, held in counts.items()}
    if asked is None:
        enough = [kind for kind in kinds if span[kind] >= MIN_PERIODS]
        dense = [kind for kind in enough if median[kind] >= PERIOD_ROWS]
        kind = dense[-1] if dense else enough[-1] if enough else kinds[0]
    else:
        kind = asked
    shown = [f"{span[kind]} {kind}s, {median[kind]:,.0f} rows each (median)"]
    at = kinds.index(kind)
    if at + 1 < len(kinds):
        shown.append(f"by {kinds[at + 1]} {span[kinds[at + 1]]} periods")
    if at > 0:
        shown.append(f"by {kinds[at - 1]} {median[kinds[at - 1]]:,.0f} rows each")
    if len(kinds) == 1:
        shown.append(f"the times name no finer period than a {kind}")
    return PeriodChoice(
        kind=kind,
        inferred=asked is None,
        span=span[kind],
        counts=counts[kind],
        why=f"{'inferred' if asked is None else '--period'}: {'; '.join(shown)}",
    )


def _period_counts(times: pd.Series, kind: PeriodKind) -> dict[str, int]:
    counts = period_labels(times, kind).dropna().value_counts()
    return {str(label): int(count) for label, count in sorted(counts.items())}


def row_bounds(counts: list[int]) -> RowBounds:
    """rows.min and rows.max: `ROWS_MIN_SHARE` of the 10th percentile of rows per period and
    `ROWS_MAX_FACTOR` times the 90th, without the file's first and last periods (exports start and end
    mid-period), rounded to two significant digits."""
    inner = counts[1:-1] if len(counts) >= 5 else counts
    low, high = (float(value) for value in np.percentile(inner, [10, 90]))
    return RowBounds(
        min=_round_down(ROWS_MIN_SHARE * low), max=_round_up(ROWS_MAX_FACTOR * high), low=low, high=high
    )


def draft_windows(period: PeriodChoice) -> WindowSpec:
    """Train on half the file's periods (at most the period kind's default); hold out enough periods for
    `HOLDOUT_ROWS` rows, at most half the window."""
    rows = float(np.median(list(period.counts.values())))
    train = min(DEFAULT_WINDOWS[period.kind].train_periods, max(period.span // 2, 1))
    holdout = min(max(1, math.ceil(HOLDOUT_ROWS / max(rows, 1.0))), max(1, train // 2))
    return WindowSpec(train_periods=max(train, holdout + 1), holdout_periods=holdout)


def calendar_features(
    times: pd.Series, form: TimeForm, kind: PeriodKind, taken: set[str]
) -> list[tuple[FeatureDecl, str]]:
    """Calendar parts of the time column worth a feature, each with why: the hour when the times have
    hours, the day of the week when they name days, the month when one period holds several months. A
    column of the same name keeps the name (the file's `hour` is the feature `hour`)."""
    known = times.dropna()
    daily = finest_period(form) == "day"
    monthly = finest_period(form) in ("day", "week", "month") and kind in ("quarter", "year")
    wanted: list[tuple[CalendarFeature, Literal["numeric", "categorical"], bool, str]] = [
        ("hour", "numeric", daily and known.dt.hour.nunique() > 1, "the hour of the day"),
        ("day_of_week", "categorical", daily and known.dt.dayofweek.nunique() > 1, "the weekly rhythm"),
        ("month", "numeric", monthly and known.dt.month.nunique() > 1, f"the season within a {kind}"),
    ]
    return [
        (FeatureDecl(name=part, kind=kind_of, derive=part), f"derived from the time column: {why}")
        for part, kind_of, useful, why in wanted
        if useful and part not in taken
    ]


def _round_down(value: float) -> int:
    """Down to two significant digits: 4,688 -> 4,600."""
    if value < 100:
        return max(math.floor(value), 0)
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return int(value // step * step)


def _round_up(value: float) -> int:
    """Up to two significant digits: 9,612 -> 9,700."""
    if value < 100:
        return math.ceil(value)
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return int(math.ceil(value / step) * step)
