"""Data versions: a period of the source, stored as Parquet under the SHA-256 of its bytes.

Identical data maps to the same, already-stored version; a version's bytes are checked against its
name whenever it is read back.
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import AliasChoices, Field

from driftloop.core import faults, layout
from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.periods import check_period
from driftloop.core.records import Record
from driftloop.core.storage import Storage
from driftloop.core.times import period_of


class DataVersion(Record):
    """An immutable, addressable batch: where it is and what its bytes hash to."""

    dataset: str
    period: str = Field(validation_alias=AliasChoices("period", "month"))  # "month" in files before v0.2
    sha256: str
    key: str
    rows: int

    @property
    def short(self) -> str:
        return self.sha256[:12]


class CorruptBatch(Exception):
    """A stored data version's bytes no longer hash to its name."""


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes that are identical for identical frames: the basis of content-hashed data versions."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def from_parquet_bytes(data: bytes, columns: list[str] | None = None) -> pd.DataFrame:
    """The frame `pd.read_parquet` gives, each column in its own array: Arrow frees a column once it is
    converted, and a column dropped later frees its memory (a block of several columns would not).
    `columns`: only these (those the file holds), the others never decoded."""
    import pyarrow.parquet as pq

    if columns is not None:
        held = set(pq.read_schema(io.BytesIO(data)).names)
        columns = [name for name in columns if name in held]
    table = pq.read_table(io.BytesIO(data), columns=columns, use_pandas_metadata=True)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    release_arrow_memory()
    return frame


def release_arrow_memory() -> None:
    """Give back what Arrow's allocator keeps of freed buffers (mimalloc holds them): after a batch was
    read or written, that is most of a batch's size in resident memory for nothing."""
    pa.default_memory_pool().release_unused()


def periods_in(labels: pd.Series) -> list[str]:
    """The periods that hold at least one row, oldest first, from the rows' labels (`period_of`)."""
    return sorted(str(label) for label in labels.dropna().unique())


def cut_period(
    table: pd.DataFrame, contract: Contract, period: str, labels: pd.Series | None = None
) -> pd.DataFrame:
    """Rows of `table` whose local time falls in `period`, in the source's order.

    `labels` are the rows' periods (`period_of`) when the caller computed them already: a replay cuts
    twelve periods from one table and labels it once.
    """
    labels = period_of(table, contract.time) if labels is None else labels
    mask = (labels == check_period(period, contract.time.period)).to_numpy(dtype=bool)
    return table.loc[mask].reset_index(drop=True)


def sample_batch(batch: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A fixed-seed slice of a batch (tests and quick runs); the full batch when fraction is 1."""
    if fraction >= 1.0:
        return batch
    keep = np.random.default_rng(seed).random(len(batch)) < fraction
    return batch.loc[keep].reset_index(drop=True)


class _Hashing(io.RawIOBase):
    """A file that hashes what is written through it: the content hash is known when the last byte is."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        return self.out.write(data)


def store_batch(storage: Storage, dataset: str, period: str, frame: pd.DataFrame) -> DataVersion:
    """Write a batch under its content hash; identical data maps to the same, already-stored version.

    The Parquet bytes stream to a spool file and through SHA-256 at once (the same bytes as
    `to_parquet_bytes`), so a large batch is never held twice in memory, then move to their key.
    """
    spool = storage.spool(layout.batches(dataset, period))
    try:
        with open(spool, "wb") as out:
            sink = _Hashing(out)
            frame.to_parquet(sink, index=False, compression="zstd")
        release_arrow_memory()
        digest = sink.digest.hexdigest()
        key = layout.batch(dataset, period, digest)
        if not storage.exists(key):
            storage.put_file(key, spool)
        faults.reached("ingest.batch-stored")
    finally:
        spool.unlink(missing_ok=True)
    return DataVersion(dataset=dataset, period=period, sha256=digest, key=key, rows=len(frame))


def ingest_period(
    storage: Storage,
    contract: Contract,
    rows: pd.DataFrame,
    period: str,
    fraction: float = 1.0,
    seed: int = 0,
) -> DataVersion:
    """Store the rows of `period` (optionally a fixed-seed slice) as a data version.

    Undeclared columns are dropped first when the contract says `extra_columns: drop`.
    """
    batch = rows
    if contract.extra_columns == "drop":
        batch = batch[[column for column in batch.columns if column in contract.columns]]
    return store_batch(storage, contract.name, period, sample_batch(batch, fraction, seed))


def cut_nonempty(
    table: pd.DataFrame, contract: Contract, period: str, labels: pd.Series | None = None
) -> pd.DataFrame:
    """`cut_period`, or `NoDataForPeriod` naming the periods the table does hold."""
    labels = period_of(table, contract.time) if labels is None else labels
    batch = cut_period(table, contract, period, labels)
    if batch.empty:
        raise NoDataForPeriod(_no_data(labels, contract, period))
    return batch


class NoDataForPeriod(LookupError):
    """The source holds no row for the period asked for; the message says which periods it does hold."""


def _no_data(labels: pd.Series, contract: Contract, period: str) -> str:
    unreadable = int(labels.isna().sum())
    note = f"; {unreadable:,} rows have a {contract.time.column} that does not parse" if unreadable else ""
    return no_data_message(contract, period, periods_in(labels)) + note


def no_data_message(contract: Contract, period: str, held: list[str]) -> str:
    """Why there is nothing to cut for `period`: which periods the source does hold."""
    span = f"it holds {held[0]}..{held[-1]}" if held else "it holds no row with a readable time"
    return f"the source of {contract.name} has no row in {contract.time.period} {period}: {span}"


def read_batch(storage: Storage, version: DataVersion, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a data version (only `columns`, when given), checking its bytes still hash to its name."""
    data = storage.read_bytes(version.key)
    if sha256_hex(data) != version.sha256:
        raise CorruptBatch(f"data version {storage.uri(version.key)} is corrupt: its SHA-256 changed")
    return from_parquet_bytes(data, columns)
