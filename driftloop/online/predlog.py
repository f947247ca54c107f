"""The prediction log: every online prediction appended to the store in batches, off the request path.

A request only hands its records to a bounded in-memory buffer; a writer thread turns what piled up
into one Parquet file every `flush_seconds` (or sooner, at `batch_rows`). When the store is slow or
down the rows wait, and the service keeps serving; once `max_pending_rows` wait, new rows are counted
as dropped instead of kept. Monitoring reads a period of the log back as one frame
(`read_prediction_log`), to measure prediction drift on live traffic and to join labels later.
"""

from __future__ import annotations

import contextlib
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

from driftloop import layout
from driftloop.batches import from_parquet_bytes, to_parquet_bytes
from driftloop.challenger import PREDICTION_COLUMN
from driftloop.contract import Contract
from driftloop.periods import period_bounds
from driftloop.storage import PreconditionFailed, Storage

logger = logging.getLogger("driftloop.online")

LOG_COLUMNS = ("request_id", "record", "served_at", "model", "model_version", PREDICTION_COLUMN)
EXTRA_COLUMN = "extra"  # undeclared fields of a record, as JSON, when the contract keeps them


@dataclass(frozen=True)
class LoggedRequest:
    """One scored request as the log keeps it."""

    request_id: str
    served_at: datetime  # tz-aware, UTC
    model_version: int
    columns: dict[str, np.ndarray]  # the validated records' fields, typed as the contract says
    probabilities: np.ndarray
    extras: list[dict[str, Any]] | None = None  # with `extra_columns: keep`

    @property
    def rows(self) -> int:
        return len(self.probabilities)


class PredictionLog:
    """A bounded buffer of scored requests and the thread that writes them to the store."""

    def __init__(
        self,
        storage: Storage,
        dataset: str,
        model: str,
        *,
        batch_rows: int,
        flush_seconds: float,
        max_pending_rows: int,
    ) -> None:
        self.storage = storage
        self.dataset = dataset
        self.model = model
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        self.writer = f"{os.getpid()}{secrets.token_hex(3)}"
        self.logged_rows = 0
        self.dropped_rows = 0  # refused because max_pending_rows were waiting
        self.failed_writes = 0
        self.files = 0
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

    def stats(self) -> dict[str, int]:
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
            for day, frame in _by_day(self._frame(batch)):
                self._write(day, frame)
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

    def _write(self, day: str, frame: pd.DataFrame) -> None:
        self.files += 1
        first = frame["served_at"].iloc[0]
        name = f"{first:%H%M%S%f}-{self.writer}-{self.files:06d}"
        key = layout.prediction_log(self.dataset, self.model, day, name)
        with contextlib.suppress(PreconditionFailed):  # a retried write that had succeeded: the key is ours
            self.storage.write_bytes(key, to_parquet_bytes(frame), if_absent=True)

    def _frame(self, batch: list[LoggedRequest]) -> pd.DataFrame:
        counts = [entry.rows for entry in batch]
        columns: dict[str, Any] = {
            "request_id": np.repeat([entry.request_id for entry in batch], counts),
            "record": np.concatenate([np.arange(count) for count in counts]),
            "served_at": pd.to_datetime(np.repeat([entry.served_at for entry in batch], counts), utc=True),
            "model": self.model,
            "model_version": np.repeat([entry.model_version for entry in batch], counts),
            PREDICTION_COLUMN: np.concatenate([entry.probabilities for entry in batch]),
        }
        fields = dict.fromkeys(name for entry in batch for name in entry.columns)  # in order, once each
        for field in fields:
            columns[field] = np.concatenate(
                [entry.columns.get(field, np.full(entry.rows, None, dtype=object)) for entry in batch]
            )
        if any(entry.extras is not None for entry in batch):
            columns[EXTRA_COLUMN] = [
                json.dumps(extra, sort_keys=True) if extra else None
                for entry in batch
                for extra in (entry.extras or [None] * entry.rows)
            ]
        return pd.DataFrame(columns)


def _by_day(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    days = frame["served_at"].dt.strftime("%Y-%m-%d")
    return [(day, part.reset_index(drop=True)) for day, part in frame.groupby(days, sort=True)]


def read_prediction_log(
    storage: Storage, dataset: str, model: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every prediction served in [start, end), oldest first, as one frame (a batch for monitoring).

    Args:
        storage: the store the service logs to.
        dataset: the contract's name.
        model: the registry name of the model.
        start: first instant (tz-aware; naive is read as UTC).
        end: the instant after the last.

    Returns:
        `request_id`, `record` (its place in the request), `served_at`, `model`, `model_version`,
        `prediction`, then the records' fields; empty (with those first columns) when nothing was served.
    """
    start, end = _utc(start), _utc(end)
    days = pd.date_range(start.normalize(), (end - pd.Timedelta(1)).normalize(), freq="D")
    frames = [
        from_parquet_bytes(storage.read_bytes(key))
        for day in days
        for key in storage.list(layout.prediction_log_day(dataset, model, f"{day:%Y-%m-%d}"))
    ]
    if not frames:
        return pd.DataFrame({name: [] for name in LOG_COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.loc[(frame["served_at"] >= start) & (frame["served_at"] < end)]
    return frame.sort_values(["served_at", "request_id", "record"], kind="stable").reset_index(drop=True)


def read_logged_period(storage: Storage, contract: Contract, model: str, period: str) -> pd.DataFrame:
    """The predictions served during one of the contract's periods (cut in its timezone)."""
    start, end = period_bounds(period, contract.time.period, contract.time.timezone)
    return read_prediction_log(storage, contract.name, model, start, end)


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
