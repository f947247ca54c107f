"""After the gate: join the reference tables and derive the label, as the contract describes.

Each reference table is indexed once by its join keys (`References`); batch scoring, training and the
online service all look rows up through that index, so a request joins exactly as a batch does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract, JoinSpec
from driftloop.core.missing import Codes, Factorized, is_missing

SMALL_INPUT = 64  # up to this many rows, keys are looked up in a dict (its fixed cost is lowest)


def _values(series: pd.Series) -> Any:
    """A column's values as an array `take` keeps the dtype of (numpy, or pandas' own for extension types)."""
    return series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array


class ReferenceLookup:
    """One join: its reference table's rows by key, built once. The last row of a repeated key wins.

    A key with a missing part never matches: a missing feature, never a lost or duplicated row.
    """

    def __init__(self, join: JoinSpec, table: pd.DataFrame) -> None:
        self.join = join
        self._keys = [table[key] for key in join.using]
        self._names = list(join.columns.values())
        # Columns of one numpy dtype are stacked into one 2-D block: one `take` gathers them all.
        self._blocks: list[tuple[list[str], Any]] = []
        by_dtype: dict[np.dtype, list[str]] = {}
        for source, name in join.columns.items():
            values = _values(table[source])
            if isinstance(values, np.ndarray):
                by_dtype.setdefault(values.dtype, []).append(source)
            else:
                self._blocks.append(([name], values))
        for sources in by_dtype.values():
            block = np.column_stack([table[source].to_numpy() for source in sources])
            self._blocks.append(([join.columns[source] for source in sources], block))

    @property
    def table(self) -> str:
        return self.join.table

    @functools.cached_property
    def _rows(self) -> dict[tuple[Any, ...], int]:
        """Each key's row, for a few rows at a time (a request): built on the first lookup."""
        keys = zip(*(column.tolist() for column in self._keys), strict=True)
        return {key: row for row, key in enumerate(keys) if not any(map(is_missing, key))}

    @functools.cached_property
    def _coded(self) -> tuple[list[Codes], np.ndarray, np.ndarray] | None:
        """The reference rows by key for many rows at a time: each key part's distinct values (value ->
        code), and the combined codes of the keys, sorted, with their rows. None when the parts' distinct
        values multiply beyond an int64 (the dict then serves every size).

        Built from the key columns without a Python loop over the rows: a reference table that grows
        with the history (hourly weather over years) costs milliseconds, not seconds, per process.
        """
        levels, codes = [], []
        for column in self._keys:
            positions, uniques = pd.factorize(column)  # a missing part is -1
            levels.append(Codes((value, code) for code, value in enumerate(uniques.tolist())))
            codes.append(positions)
        sizes = [len(level) for level in levels]
        if math.prod(size + 1 for size in sizes) >= 2**62:
            return None
        combined = _combined(codes, sizes)
        last = (combined >= 0) & ~pd.Index(combined).duplicated(keep="last")  # the last row of a key wins
        rows = np.flatnonzero(last)
        order = np.argsort(combined[rows], kind="stable")
        return levels, combined[rows][order], rows[order]

    def rows(self, keys: Sequence[Any], coded: Sequence[Factorized | None] = ()) -> np.ndarray:
        """The reference row of each input row (-1: no such key).

        Args:
            keys: the key columns in `using` order (lists, arrays or Series of equal length).
            coded: the same columns already factorized, where known (a request's text columns from
                Arrow); the others are factorized here.

        A few rows (a single-record request) are looked up in a dict of whole keys. More are looked up a
        key part at a time, each distinct value once, then by their combined code with a binary search: no
        Python loop over the rows. The answers are the same: a value matches a key part it equals, and a
        missing part matches nothing.
        """
        many = self._coded if len(keys[0]) > SMALL_INPUT or any(coded) else None
        if many is None:
            get = self._rows.get
            return np.fromiter(
                (get(key, -1) for key in zip(*keys, strict=True)), dtype=np.intp, count=len(keys[0])
            )
        levels, sorted_codes, sorted_rows = many
        parts = []
        for position, (level, values) in enumerate(zip(levels, keys, strict=True)):
            known = coded[position] if position < len(coded) else None
            codes, uniques = known if known is not None else pd.factorize(_lookup_values(values))
            # Code -1 (a missing value) picks the trailing -1: it matches nothing.
            of_uniques = np.fromiter(map(level.__getitem__, uniques.tolist()), np.intp, len(uniques))
            parts.append(np.append(of_uniques, -1)[codes])
        combined = _combined(parts, [len(level) for level in levels])
        if not len(sorted_codes):  # no complete key in the table
            return np.full(len(combined), -1, dtype=np.intp)
        at = np.minimum(np.searchsorted(sorted_codes, combined), len(sorted_codes) - 1)
        return np.where((sorted_codes[at] == combined) & (combined >= 0), sorted_rows[at], -1)

    def take(self, rows: np.ndarray) -> dict[str, Any]:
        """The joined columns for `rows`; a miss is missing (NaN), which turns int columns into float."""
        found = rows.min(initial=0) >= 0
        missed = None if found else rows < 0
        taken: dict[str, Any] = {}
        for names, values in self._blocks:
            # Every row found: plain indexing keeps the dtypes, as pandas' take does; a miss needs its fill.
            block = values[rows] if missed is None else _filled(values, rows, missed)
            if block.ndim == 1:
                taken[names[0]] = block
            else:
                taken.update((name, block[:, position]) for position, name in enumerate(names))
        return {name: taken[name] for name in self._names}  # in the contract's order


class References:
    """Every reference table a contract joins, each indexed once by its keys."""

    def __init__(self, contract: Contract, tables: Mapping[str, pd.DataFrame]) -> None:
        self.lookups = tuple(ReferenceLookup(join, tables[join.table]) for join in contract.joins)

    def check(self, names: Iterable[str]) -> None:
        """Refuse joins that would overwrite an input column (or an earlier join's column)."""
        known = set(names)
        for lookup in self.lookups:
            clashes = [name for name in lookup.join.columns.values() if name in known]
            if clashes:
                raise ValueError(f"join with {lookup.table!r} would overwrite batch columns {clashes}")
            known.update(lookup.join.columns.values())

    def join(
        self, keys: Mapping[str, Sequence[Any]], coded: Mapping[str, Factorized] | None = None
    ) -> tuple[dict[str, Any], dict[str, int]]:
        """The joined columns of some input rows, and how many rows each table had no row for.

        Args:
            keys: the input's key columns by name, as lists or arrays of equal length.
            coded: some of those columns already factorized (a request's text columns from Arrow).

        Returns:
            The joined columns by feature name, and the misses by table name.
        """
        joined: dict[str, Any] = {}
        misses: dict[str, int] = {}
        for lookup in self.lookups:
            using = lookup.join.using
            known = [coded.get(key) for key in using] if coded else []
            rows = lookup.rows([keys[key] for key in using], known)
            misses[lookup.table] = int((rows < 0).sum())
            joined.update(lookup.take(rows))
        return joined, misses

    def enrich(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch with the joined columns appended, rows renumbered and in their order (a left join)."""
        self.check(batch.columns)
        # A shallow copy with the joined columns added: the batch's own columns are shared, not copied
        # (a copy of a period of millions of rows costs more than the joins).
        out = batch.copy(deep=False)
        if not out.index.equals(pd.RangeIndex(len(out))):
            out.index = pd.RangeIndex(len(out))
        for lookup in self.lookups:
            for name, values in lookup.take(lookup.rows([batch[key] for key in lookup.join.using])).items():
                out[name] = values
        return out


def _filled(values: Any, rows: np.ndarray, missed: np.ndarray) -> Any:
    """`pd.api.extensions.take(values, rows, axis=0, allow_fill=True)`: NaN where the row is -1, ints made
    floats for it; numbers in NumPy directly (pandas' take costs a request more than its lookups)."""
    if not (isinstance(values, np.ndarray) and values.dtype.kind in "iuf"):
        return pd.api.extensions.take(values, rows, axis=0, allow_fill=True)
    block = values[np.maximum(rows, 0)]  # a copy: filling it leaves the table alone
    if block.dtype.kind != "f":
        block = block.astype(np.float64)
    block[missed] = np.nan
    return block


def _lookup_values(values: Any) -> Any:
    """Key values as `pd.factorize` reads them: an array or Series as it is, a list as an object array
    (a list of numbers and None must not become floats with NaN)."""
    return values if isinstance(values, np.ndarray | pd.Series | pd.Index) else np.array(values, dtype=object)


def _combined(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One int64 code per row from its key parts' codes (-1 where any part is -1): the parts' codes as
    the digits of a number in mixed radix (the caller checked that the sizes fit an int64)."""
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    missing = np.zeros(len(codes[0]), dtype=bool)
    for part, size in zip(codes, sizes, strict=True):
        combined = combined * size + part
        missing |= part < 0
    combined[missing] = -1
    return combined


def enrich(batch: pd.DataFrame, contract: Contract, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Left-join the reference tables after the gate; a miss is a missing feature, never a lost row."""
    return References(contract, tables).enrich(batch)


def labels(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    """The binary label as float (1.0/0.0), NaN where the outcome is unknown (e.g. cancelled flights)."""
    target = contract.target
    if target.positive_value is not None:
        raw = frame[target.column]
        wanted = target.positive_value
        numbers = pd.api.types.is_numeric_dtype(raw) and not isinstance(wanted, str)
        label = raw == wanted if numbers else raw.astype(str).str.strip() == str(wanted)
        return label.astype(float).where(raw.notna())
    values = pd.to_numeric(frame[target.column], errors="coerce")
    label = (values > target.positive_above) if target.positive_above is not None else values.astype(bool)
    return label.astype(float).where(values.notna())
