"""The prediction log: every online prediction appended to the store in batches, off the request path.

A request only hands its body and its probabilities to a bounded in-memory buffer; a writer thread turns
what piled up into one Parquet file every `flush_seconds` (or sooner, at `batch_rows`). A file holds one
row per request: its id, when it was served, the model version, the validated request body (JSON text,
as payload loggers keep it) and its probabilities. Writing is that cheap on purpose: it shares the
process with the requests. `read_prediction_log` does the rest when monitoring reads a period: one row
per prediction, the inputs typed by the contract, for prediction drift on live traffic and to join
labels later.

When the store is slow or down the rows wait and the service keeps serving; once `max_pending_rows`
wait, new rows are counted as dropped instead of kept.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typing_extensions import TypedDict

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.periods import period_bounds
from driftloop.core.settings import ServingSettings
from driftloop.core.storage import PreconditionFailed, Storage
from driftloop.data.batches import from_parquet_bytes
from driftloop.modelling.training import PREDICTION_COLUMN
from driftloop.online.schema import record_columns, request_schema

logger = logging.getLogger("driftloop.online")

LOG_COLUMNS = ("request_id", "record", "served_at", "model", "model_version", PREDICTION_COLUMN)
EXTRA_COLUMN = "extra"  # undeclared fields of a record, as JSON, when the contract keeps them
_STORED = ("request_id", "served_at", "model", "model_version", "request", "predictions")


class LogStats(TypedDict):
    """The prediction log's counters, in rows (one a prediction) and files written."""

    logged_rows: int
    pending_rows: int  # waiting for the writer (or for the store to come back)
    dropped_rows: int  # refused because `max_pending_rows` were waiting
    failed_writes: int
    files: int


@dataclass(frozen=True)
class LoggedRequest:
    """One scored request as the log keeps it."""

    request_id: str
    served_at: datetime  # tz-aware, UTC
    model_version: int
    request: str  # the validated body, {"records": [...]}, as JSON text
    probabilities: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.probabilities)


class PredictionLog:
    """A bounded buffer of scored requests and the thread that writes them to the store."""

    def __init__(self, storage: Storage, dataset: str, model: str, settings: ServingSettings) -> None:
        self.storage = storage
        self.dataset = dataset
        self.model = model
        self.batch_rows = settings.log_batch_rows
        self.flush_seconds = settings.log_flush_seconds
        self.max_pending_rows = settings.log_max_pending_rows
        self.writer = f"{os.getpid()}{secrets.token_hex(3)}"
        self.logged_rows = 0
        self.dropped_rows = 0  # refused because max_pending_rows were waiting
        self.failed_writes = 0
        self.files = 0
        self._sequence = 0  # names this writer's files, attempts included
        self._pending: deque[LoggedRequest] = deque()
        self._pending_rows = 0
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    # ---- the request side: never blocks on the store ---------------------------------------------
    def append(self, entry: LoggedRequest) -> bool:
        """Queue a request's predictions; False (and counted) when the buffer is full."""
        with self._wake:
            if self._pending_rows + entry.rows > self.max_pending_rows:
                self.dropped_rows += entry.rows
                return False
            self._pending.append(entry)
            self._pending_rows += entry.rows
            if self._pending_rows >= self.batch_rows:
                self._wake.notify()
        return True

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def stats(self) -> LogStats:
        return {
            "logged_rows": self.logged_rows,
            "pending_rows": self._pending_rows,
            "dropped_rows": self.dropped_rows,
            "failed_writes": self.failed_writes,
            "files": self.files,
        }

    # ---- the writer thread --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="driftloop-prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (one last try) and stop the writer."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        if self._pending_rows:
            logger.warning("%d predictions could not be logged before shutdown", self._pending_rows)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closing and self._pending_rows < self.batch_rows:
                    self._wake.wait(timeout=self.flush_seconds)
                closing = self._closing
            written = self.flush()
            while written is True and (closing or self._pending_rows >= self.batch_rows):
                written = self.flush()  # more than a batch waits (or this is the last round): keep up
            if closing:
                return
            if written is False:  # the store failed: wait a round before trying again
                with self._wake:
                    if not self._closing:
                        self._wake.wait(timeout=self.flush_seconds)

    def flush(self) -> bool | None:
        """Write up to `batch_rows` pending rows; None when nothing waited, False when the store failed."""
        with self._wake:
            batch: list[LoggedRequest] = []
            rows = 0
            while self._pending and (not batch or rows + self._pending[0].rows <= self.batch_rows):
                entry = self._pending.popleft()
                batch.append(entry)
                rows += entry.rows
        if not batch:
            return None
        try:
            for day, entries in _by_day(batch):
                self._write(day, entries)
        except Exception as error:  # the store is down or refuses: keep the rows, count the failure
            self.failed_writes += 1
            logger.warning("prediction log: cannot write %d rows (%s); keeping them", rows, error)
            with self._wake:
                self._pending.extendleft(reversed(batch))
            return False
        with self._wake:
            self._pending_rows -= rows
        self.logged_rows += rows
        return True

    def _write(self, day: str, entries: list[LoggedRequest]) -> None:
        self._sequence += 1
        name = f"{entries[0].served_at:%H%M%S%f}-{self.writer}-{self._sequence:06d}"
        buffer = io.BytesIO()
        pq.write_table(self._table(entries), buffer, compression="zstd")
        key = layout.prediction_log(self.dataset, self.model, day, name)
        with contextlib.suppress(PreconditionFailed):  # a retried write that had succeeded: the key is ours
            self.storage.write_bytes(key, buffer.getvalue(), if_absent=True)
        self.files += 1

    def _table(self, entries: list[LoggedRequest]) -> pa.Table:
        """One row per request, built by Arrow directly (no DataFrame: this thread shares the GIL)."""
        ends = np.cumsum([entry.rows for entry in entries], dtype=np.int32)
        probabilities = np.concatenate([entry.probabilities for entry in entries])
        return pa.table(
            {
                "request_id": pa.array([entry.request_id for entry in entries], pa.string()),
                "served_at": pa.array([entry.served_at for entry in entries], pa.timestamp("us", tz="UTC")),
                "model": pa.array([self.model] * len(entries), pa.string()),
                "model_version": pa.array([entry.model_version for entry in entries], pa.int64()),
                "request": pa.array([entry.request for entry in entries], pa.string()),
                "predictions": pa.ListArray.from_arrays(
                    pa.array(np.concatenate([[0], ends]), pa.int32()), pa.array(probabilities, pa.float64())
                ),
            }
        )


def _by_day(batch: list[LoggedRequest]) -> list[tuple[str, list[LoggedRequest]]]:
    """The entries of each UTC day they were served on: a file never straddles midnight."""
    days: dict[str, list[LoggedRequest]] = {}
    for entry in batch:
        days.setdefault(f"{entry.served_at:%Y-%m-%d}", []).append(entry)
    return sorted(days.items())


def read_prediction_log(
    storage: Storage, contract: Contract, model: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every prediction served in [start, end), oldest first, one row each (a batch for monitoring).

    Args:
        storage: the store the service logs to.
        contract: the data contract the service enforces: names the log and types the inputs.
        model: the registry name of the model.
        start: first instant (tz-aware; naive is read as UTC).
        end: the instant after the last.

    Returns:
        `request_id`, `record` (its place in the request), `served_at`, `model`, `model_version`,
        `prediction`, then the records' fields typed as the contract says (and `extra`, the undeclared
        fields as JSON, when the contract keeps them); empty with the first columns when none was served.
    """
    start, end = _utc(start), _utc(end)
    days = pd.date_range(start.normalize(), (end - pd.Timedelta(1)).normalize(), freq="D")
    frames = [
        from_parquet_bytes(storage.read_bytes(key))
        for day in days
        for key in storage.list(layout.prediction_log_day(contract.name, model, f"{day:%Y-%m-%d}"))
    ]
    if not frames:
        frames = [pd.DataFrame({name: pd.Series([], dtype=object) for name in _STORED})]
        frames[0]["served_at"] = pd.to_datetime(frames[0]["served_at"], utc=True)
    stored = pd.concat(frames, ignore_index=True)
    stored = stored.loc[(stored["served_at"] >= start) & (stored["served_at"] < end)]
    stored = stored.sort_values(["served_at", "request_id"], kind="stable").reset_index(drop=True)
    return _expand(stored, contract)


def _expand(stored: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """One row per prediction: the stored bodies parsed, their fields typed by the contract."""
    schema = request_schema(contract, max_records=1)
    records = [record for text in stored["request"] for record in json.loads(text)["records"]]
    counts = stored["predictions"].map(len).to_numpy(dtype=int) if len(stored) else np.zeros(0, dtype=int)
    out: dict[str, Any] = {
        "request_id": np.repeat(stored["request_id"].to_numpy(), counts),
        "record": np.concatenate([np.arange(count) for count in counts]) if len(counts) else [],
        "served_at": np.repeat(stored["served_at"].to_numpy(), counts),
        "model": np.repeat(stored["model"].to_numpy(), counts),
        "model_version": np.repeat(stored["model_version"].to_numpy(), counts),
        PREDICTION_COLUMN: np.concatenate([*stored["predictions"].map(np.asarray), np.zeros(0)]),
        **record_columns(schema, records),
    }
    extras = [schema.extras(record) for record in records]
    if any(extras):
        out[EXTRA_COLUMN] = [json.dumps(extra, sort_keys=True) if extra else None for extra in extras]
    frame = pd.DataFrame(out)
    frame["served_at"] = pd.to_datetime(frame["served_at"], utc=True)
    return frame


def read_logged_period(storage: Storage, contract: Contract, model: str, period: str) -> pd.DataFrame:
    """The predictions served during one of the contract's periods (cut in its timezone)."""
    start, end = period_bounds(period, contract.time.period, contract.time.timezone)
    return read_prediction_log(storage, contract, model, start, end)


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
