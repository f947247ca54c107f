"""The one feature function, used identically by training, batch scoring and online serving.

`fit_feature_spec` freezes what must not change between training and scoring (the category levels,
the time zone of calendar features); `FeatureEncoder` turns raw columns into the model's inputs.
`build_features` wraps it for a batch (a DataFrame with categoricals, for LightGBM and monitoring); the
online service calls the same encoder on the columns of a request, without pandas frames, and keeps it
for the life of the model. The spec is saved as JSON next to the model, so a model always scores with
the features it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.missing import Codes, Factorized, is_missing
from driftloop.core.records import Record
from driftloop.core.times import local_times

FEATURE_CODE_VERSION = "features-v1"  # bump when build_features changes meaning; part of cache keys


class FeatureColumn(Record):
    """One input of the model: a column of the enriched batch, or a calendar part of the time column."""

    name: str
    kind: Literal["numeric", "categorical"]
    derive: str | None = None  # the calendar part (`CALENDAR_PARTS`) this feature is, if derived
    categories: tuple[str, ...] = ()  # a categorical feature's levels, sorted, frozen at training


class FeatureSpec(Record):
    """Everything needed to rebuild the model matrix exactly as at training time.

    Its JSON is stored with every model and its SHA-256 (`fingerprint`) is in every lineage, so
    `to_json` writes the bytes the spec has always had (keys sorted, indented by two, non-ASCII
    escaped), and `from_json` reads every spec written so far (those from before `time_format` too).
    """

    columns: tuple[FeatureColumn, ...]
    time_column: str
    timezone: str
    contract_name: str
    contract_fingerprint: str
    code_version: str = FEATURE_CODE_VERSION
    time_format: str | None = None  # the contract's `time.format`, for times that are not ISO-8601

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def numeric(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "categorical"]

    def to_json(self) -> str:
        """The stored spec: `json.dumps` with sorted keys, as the dataclass it once was wrote it."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


Columns = Mapping[str, Any]
"""Raw columns by name, each 1-D (a Series or an array): a DataFrame, or the columns of one request."""

CALENDAR_PARTS = ("day_of_week", "hour", "day_of_month", "month", "quarter", "year")
_MISSING_PARTS = (np.nan,) * len(CALENDAR_PARTS)
MEMO_LIMIT = 1 << 16  # distinct times an encoder remembers (a year of hourly flights is ~7,000)
SMALL_INPUT = 64  # up to this many values, distinct values are found in Python (no pandas call)


def _column(columns: Columns, name: str) -> Any:
    if name not in columns:
        raise KeyError(f"feature {name!r} is missing from the input")
    return columns[name]


def _numeric(raw: Any) -> np.ndarray:
    """Numbers as float64; anything that is not a number becomes NaN."""
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiub":
        return raw.astype(np.float64, copy=False)  # float64 already: the array itself (a matrix is read-only)
    return pd.Series(pd.to_numeric(raw, errors="coerce")).astype("float64").to_numpy()


def _unique_texts(uniques: Any) -> list[str]:
    """Category levels as text, the same whatever the batch: 1 and 1.0 (an int column with a NaN) are "1"."""
    if isinstance(uniques, np.ndarray) and uniques.dtype.kind in "iuf":
        return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniques.tolist()]
    if isinstance(uniques, np.ndarray) and all(type(v) is str for v in uniques):
        return uniques.tolist()  # text already: what pandas' string conversion below keeps as it is
    values = pd.Series(uniques)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values.tolist()]
    return values.astype("string").astype(object).tolist()


def factorize(values: Any) -> tuple[np.ndarray, Any]:
    """`pd.factorize`: codes of the distinct values in order of appearance, -1 where missing.

    Without its fixed cost of some 10 microseconds for the few values of an online request.
    """
    if not (isinstance(values, np.ndarray) and values.ndim == 1 and len(values) <= SMALL_INPUT):
        return pd.factorize(values)
    if values.dtype.kind not in "Ofiub":
        return pd.factorize(values)
    seen: dict[Any, int] = {}
    codes = np.fromiter(
        (-1 if is_missing(value) else seen.setdefault(value, len(seen)) for value in values.tolist()),
        dtype=np.intp,
        count=len(values),
    )
    return codes, np.array(list(seen), dtype=values.dtype)


def category_texts(raw: Any) -> np.ndarray:
    """Each value's category level as text (object array), NaN where the value is missing."""
    codes, uniques = factorize(raw)
    texts = np.array([*_unique_texts(uniques), np.nan], dtype=object)
    return texts[codes]  # code -1 (missing) picks the trailing NaN


class FeatureEncoder:
    """A feature spec compiled once: raw columns in, the model's inputs out.

    Training, batch scoring, monitoring and online serving all go through this class. Work is done per
    distinct value (a carrier, a scheduled hour), so one row costs little and a batch costs its distinct
    values. An encoder remembers the calendar parts of the time texts it has parsed: the online service
    keeps one per loaded model, and times repeat (one per scheduled hour).
    """

    def __init__(self, spec: FeatureSpec, memo_limit: int = MEMO_LIMIT) -> None:
        self.spec = spec
        self._levels = {
            column.name: {level: code for code, level in enumerate(column.categories)}
            for column in spec.columns
            if column.kind == "categorical"
        }
        self._memo = Codes()  # a time text -> its row in `_parts` (its first len(_memo) rows are in use)
        self._parts = np.empty((0, len(CALENDAR_PARTS)), dtype=np.float64)
        self._memo_limit = memo_limit
        # The last calendar made from a factorized time column: a request's check and its features share it.
        self._last: tuple[Any, np.ndarray, np.ndarray] | None = None

    def raw(
        self, columns: Columns, kind: Literal["numeric", "categorical"] | None = None
    ) -> Iterator[tuple[FeatureColumn, Any]]:
        """Each feature's raw values (of one `kind` only, when given): a column of the input, or a calendar
        part of the time column. One at a time: a column taken from some rows of a frame is a copy, and
        the caller is done with it before the next is taken."""
        wanted = [column for column in self.spec.columns if kind is None or column.kind == kind]
        calendar = self._calendar(columns) if any(column.derive for column in wanted) else {}
        for column in wanted:
            yield column, calendar[column.derive] if column.derive else _column(columns, column.name)

    def values(self, columns: Columns) -> dict[str, np.ndarray]:
        """Numeric features as float64, categorical ones as their text (a level unseen in training kept)."""
        return {
            column.name: _numeric(raw) if column.kind == "numeric" else category_texts(raw)
            for column, raw in self.raw(columns)
        }

    def codes(self, columns: Columns, coded: Mapping[str, Factorized] | None = None) -> dict[str, np.ndarray]:
        """Numeric features as float64, categorical ones as the index of their level (-1: missing/unseen).

        `coded`: input columns already factorized (a request's text columns from Arrow), not hashed again.
        A calendar feature is encoded once per distinct time (a row of the calendar table), then spread.
        """
        coded = coded or {}
        calendar = None
        if any(column.derive for column in self.spec.columns):
            time = self.spec.time_column
            calendar = self._calendar_table(_column(columns, time), coded.get(time))
        out = {}
        for column in self.spec.columns:
            if column.derive and calendar is not None:
                positions, table = calendar  # position -1 (a missing time) picks the trailing NaN row
                part = table[:, CALENDAR_PARTS.index(column.derive)]
                by_time = part if column.kind == "numeric" else self._level_codes(column, *factorize(part))
                out[column.name] = by_time[positions]
                continue
            raw = _column(columns, column.name)
            if column.kind == "numeric":
                out[column.name] = _numeric(raw)
                continue
            known = coded.get(column.name)
            out[column.name] = self._level_codes(column, *(known if known is not None else factorize(raw)))
        return out

    def _level_codes(self, column: FeatureColumn, positions: np.ndarray, uniques: Any) -> np.ndarray:
        """Each value's level code from its factorized form (-1: missing, or a level unseen in training)."""
        levels = self._levels[column.name]
        known = np.array([*(levels.get(text, -1) for text in _unique_texts(uniques)), -1], dtype=np.intp)
        return known[positions]

    def matrix(self, columns: Columns, coded: Mapping[str, Factorized] | None = None) -> np.ndarray:
        """The float64 matrix LightGBM predicts on: categorical levels as codes, NaN where missing or unseen.

        It holds exactly what LightGBM itself makes of `build_features`' DataFrame, without pandas.
        """
        encoded = self.codes(columns, coded)
        rows = len(next(iter(encoded.values())))
        out = np.empty((rows, len(self.spec.columns)), dtype=np.float64)
        for position, column in enumerate(self.spec.columns):
            values = encoded[column.name]
            out[:, position] = (
                np.where(values < 0, np.nan, values) if column.kind == "categorical" else values
            )
        return out

    def unreadable_times(self, times: Any, coded: Factorized | None = None) -> np.ndarray:
        """Which of `times` (values of the time column) are present but name no instant its calendar parts
        can be made from (`local_times` gives NaT: no such date, beyond pandas' range, a wall-clock time a
        DST change skips or repeats); read through the same remembered parses as the features. `coded`:
        the same values factorized (then the request's features reuse this calendar)."""
        positions, table = self._calendar_table(times, coded)
        return (positions >= 0) & np.isnan(table[positions, 0])

    def _calendar(self, columns: Columns) -> dict[str, np.ndarray]:
        """Calendar parts of the time column in the contract's zone, parsed once per distinct time."""
        positions, table = self._calendar_table(_column(columns, self.spec.time_column))
        values = table[positions]  # position -1 (a missing time) picks the trailing NaN row
        return {part: values[:, index] for index, part in enumerate(CALENDAR_PARTS)}

    def _calendar_table(self, raw: Any, coded: Factorized | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each value's position in a table of calendar parts (one row per distinct value, NaN where it is
        not a time, and a trailing NaN row for position -1, a missing value)."""
        last = self._last
        if coded is not None and last is not None and last[0] is coded[1]:
            return last[1], last[2]  # the same request's column: its check made this table
        positions, uniques = coded if coded is not None else factorize(raw)
        keys = uniques.tolist()
        if uniques.dtype == object:
            rows = self._remembered(uniques, keys)
            table = np.concatenate([self._parts[rows], [_MISSING_PARTS]])
        else:  # only text is remembered: datetime64 values list as integers, another column's could equal
            table = np.concatenate([self._parse(uniques), [_MISSING_PARTS]])
        if coded is not None:
            self._last = (uniques, positions, table)
        return positions, table

    def _remembered(self, uniques: np.ndarray, keys: list[Any]) -> np.ndarray:
        """The rows of `_parts` that hold these time texts' calendar parts; the new ones parsed and added."""
        memo = self._memo
        rows = np.fromiter(map(memo.__getitem__, keys), dtype=np.intp, count=len(keys))
        fresh = np.flatnonzero(rows < 0)
        if len(fresh):
            if len(memo) + len(fresh) > self._memo_limit:
                memo.clear()
                self._parts = self._parts[:0]
                fresh = np.arange(len(keys))
            start, end = len(memo), len(memo) + len(fresh)
            if end > len(self._parts):  # room for twice as many: appending a time or two stays cheap
                grown = np.empty((max(end, 2 * len(self._parts)), len(CALENDAR_PARTS)), dtype=np.float64)
                grown[:start] = self._parts[:start]
                self._parts = grown
            self._parts[start:end] = self._parse(uniques[fresh])
            rows[fresh] = np.arange(start, end)
            memo.update(zip((keys[index] for index in fresh.tolist()), rows[fresh].tolist(), strict=True))
        return rows

    def _parse(self, uniques: np.ndarray) -> np.ndarray:
        """Calendar parts of distinct time values (a row each; NaN where a value names no instant)."""
        spec = self.spec
        frame = pd.DataFrame({spec.time_column: pd.Series(uniques)})
        on = local_times(frame, spec.time_column, spec.timezone, spec.time_format).dt
        parts = np.column_stack([on.dayofweek, on.hour, on.day, on.month, on.quarter, on.year])
        return parts.astype(np.float64)


def spec_inputs(frame: pd.DataFrame, contract: Contract) -> list[str]:
    """The columns of `frame` that `fit_feature_spec` reads: the categorical features and the time column."""
    wanted = {f.name for f in contract.features if f.kind == "categorical"} | {contract.time.column}
    return [column for column in frame.columns if column in wanted]


def fit_feature_spec(training: pd.DataFrame, contract: Contract) -> FeatureSpec:
    """Freeze category levels from the training data (sorted, so the same data gives the same spec).

    Args:
        training: enriched training rows.
        contract: the data contract that declares the features.

    Returns:
        The spec to save with the model.
    """
    return spec_with_levels(contract, category_levels(training, contract))


def category_levels(training: pd.DataFrame, contract: Contract) -> dict[str, set[str]]:
    """Each categorical feature's levels in these rows, as text. Levels of parts of the training rows
    (a cluster's partitions) unite into the levels of all of them."""
    return {
        column.name: set(pd.Series(category_texts(raw)).dropna().unique())
        for column, raw in FeatureEncoder(_unfitted(contract)).raw(training, kind="categorical")
    }


def spec_with_levels(contract: Contract, levels: Mapping[str, set[str]]) -> FeatureSpec:
    """The contract's features with these category levels frozen, sorted."""
    partial = _unfitted(contract)
    columns = [
        column.model_copy(update={"categories": tuple(sorted(levels[column.name]))})
        if column.name in levels
        else column
        for column in partial.columns
    ]
    return partial.model_copy(update={"columns": tuple(columns)})


def _unfitted(contract: Contract) -> FeatureSpec:
    return FeatureSpec(
        columns=tuple(FeatureColumn(name=f.name, kind=f.kind, derive=f.derive) for f in contract.features),
        time_column=contract.time.column,
        timezone=contract.time.timezone,
        time_format=contract.time.format,
        contract_name=contract.name,
        contract_fingerprint=contract.fingerprint,
    )


def build_features(frame: pd.DataFrame, spec: FeatureSpec, rows: np.ndarray | None = None) -> pd.DataFrame:
    """The model matrix: numeric as float64, categoricals with the spec's fixed levels (unseen -> NaN).

    Args:
        frame: enriched rows (batch joined with reference tables), any extra columns ignored.
        spec: the frozen feature spec of the model.
        rows: only these rows of `frame` (a boolean mask or positions), taken column by column so that
            the frame itself is never copied; the result is then indexed from 0.

    Returns:
        A new DataFrame with exactly `spec.names` columns, in order, same index as `frame` (or the taken
        rows'). Each column keeps its own array: no second, consolidated copy of the matrix.
    """
    positions = None if rows is None else np.flatnonzero(rows) if rows.dtype == bool else rows
    columns: Columns = frame if positions is None else _TakenRows(frame, positions)
    encoded = FeatureEncoder(spec).codes(columns)
    out: dict[str, Any] = {}
    for column in spec.columns:
        values = encoded.pop(column.name)
        if column.kind == "categorical":
            dtype = pd.CategoricalDtype(list(column.categories))
            values = pd.Categorical.from_codes(values, dtype=dtype)
        out[column.name] = values
    index = frame.index if positions is None else pd.RangeIndex(len(positions))
    return pd.DataFrame(out, index=index, copy=False)


class _TakenRows(Mapping[str, Any]):
    """Some rows of a frame, as columns: a column is taken only when a feature reads it.

    When the rows are the frame's first ones (a training window puts its training rows first), a column
    of numbers is a view of the frame's own array, not a copy: a float64 column goes into the matrix as it
    is, and the window and its training matrix do not hold those rows twice.
    """

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray) -> None:
        self._frame = frame
        self._positions = positions
        self._prefix = bool(np.array_equal(positions, np.arange(len(positions))))

    def __contains__(self, name: object) -> bool:
        return name in self._frame.columns

    def __getitem__(self, name: str) -> Any:
        column = self._frame[name]
        if self._prefix and isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":
            return column.to_numpy()[: len(self._positions)]
        return column.iloc[self._positions].reset_index(drop=True)

    def __iter__(self) -> Iterator[str]:
        return iter(self._frame.columns)

    def __len__(self) -> int:
        return len(self._frame.columns)


def feature_values(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's inputs before the fixed levels: numeric as float64, categoricals as their text.

    `build_features` turns a category level the model never saw into missing; monitoring needs to see
    that value by name (a new value that takes over a column is an upstream change, not noise).
    """
    return pd.DataFrame(FeatureEncoder(spec).values(frame), index=frame.index, copy=False)
