"""After the gate: join the reference tables and derive the label, as the contract describes.

Each reference table is indexed once by its join keys (`References`); batch scoring, training and the
online service all look rows up through that index, so a request joins exactly as a batch does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract, JoinSpec
from driftloop.core.missing import is_missing


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
    def _index(self) -> tuple[pd.Index, np.ndarray]:
        """The reference rows by key as a pandas index (for whole batches), and each entry's row.

        Built from the key columns without a Python loop over the rows: a reference table that grows
        with the history (hourly weather over years) costs milliseconds, not seconds, per process.
        """
        complete = ~np.logical_or.reduce([column.isna().to_numpy() for column in self._keys])
        index = pd.Index(self._keys[0]) if len(self._keys) == 1 else pd.MultiIndex.from_arrays(self._keys)
        last = complete & ~index.duplicated(keep="last")  # the last row of a repeated key wins
        return index[last], np.flatnonzero(last)

    def rows_of(self, batch: pd.DataFrame) -> np.ndarray:
        """`rows` for a whole batch at once: the same answer, by pandas' hashed index instead of a loop."""
        columns = [batch[key] for key in self.join.using]
        target = pd.Index(columns[0]) if len(columns) == 1 else pd.MultiIndex.from_arrays(columns)
        index, rows = self._index
        found = index.get_indexer(target)
        out = np.where(found >= 0, rows[found], -1)
        for column in columns:  # a key with a missing part never matches
            out[column.isna().to_numpy()] = -1
        return out

    def rows(self, keys: Sequence[Sequence[Any]]) -> np.ndarray:
        """The reference row of each input row (-1: no such key), from the key columns' values in order."""
        get = self._rows.get
        return np.fromiter(
            (get(key, -1) for key in zip(*keys, strict=True)), dtype=np.intp, count=len(keys[0])
        )

    def take(self, rows: np.ndarray) -> dict[str, Any]:
        """The joined columns for `rows`; a miss is missing (NaN), which turns int columns into float."""
        found = rows.min(initial=0) >= 0
        taken: dict[str, Any] = {}
        for names, values in self._blocks:
            # Every row found: plain indexing keeps the dtypes, as pandas' take does; a miss needs its fill.
            block = values[rows] if found else pd.api.extensions.take(values, rows, axis=0, allow_fill=True)
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

    def join(self, keys: Mapping[str, Sequence[Any]]) -> tuple[dict[str, Any], dict[str, int]]:
        """The joined columns of some input rows, and how many rows each table had no row for.

        Args:
            keys: the input's key columns by name, as lists or arrays of equal length.

        Returns:
            The joined columns by feature name, and the misses by table name.
        """
        joined: dict[str, Any] = {}
        misses: dict[str, int] = {}
        for lookup in self.lookups:
            rows = lookup.rows([keys[key] for key in lookup.join.using])
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
            for name, values in lookup.take(lookup.rows_of(batch)).items():
                out[name] = values
        return out


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
