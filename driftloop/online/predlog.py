"""The prediction log and the refusal log: what the service answered, appended to the store in batches,
off the request path.

A request only hands its body and its probabilities to a bounded in-memory buffer; a writer thread turns
what piled up into one Parquet file every `flush_seconds` (or sooner, at `batch_rows`). A file holds one
row per request: its id, when it was served, the model version, the validated request body (JSON text,
as payload loggers keep it, or an Arrow body's IPC stream as it came) and its probabilities; with a shadow
on (`DRIFTLOOP_SERVE_SHADOW`), the shadow's version and probabilities beside them (null when none scored).
Writing is that cheap on purpose: it shares the process with the requests. `read_prediction_log` does the
rest when monitoring reads a period: one row per prediction, the inputs typed by the contract, for
prediction drift on live traffic and to join labels later.

A refused request goes through the same buffer and thread to a file series of its own (`refusal-log/`):
one row per (field, rule) it broke, with the records that broke it and the version serving then;
`read_refusals` reads them back.

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
from driftloop.online.metrics import ServiceMetrics
from driftloop.online.schema import record_columns, request_schema

logger = logging.getLogger("driftloop.online")

SHADOW_VERSION, SHADOW_PREDICTION = "shadow_version", "shadow_prediction"  # read back: one a prediction
LOG_COLUMNS = (
    "request_id",
    "record",
    "served_at",
    "model",
    "model_version",
    PREDICTION_COLUMN,
    SHADOW_VERSION,
    SHADOW_PREDICTION,
)
EXTRA_COLUMN = "extra"  # undeclared fields of a record, as JSON, when the contract keeps them
ARROW_REQUEST = "request_arrow"  # the stored column of Arrow bodies (`request` holds the JSON ones)
SHADOW_STORED = "shadow_predictions"  # the stored column of the shadow's probabilities, a list a request
_STORED = (
    "request_id",
    "served_at",
    "model",
    "model_version",
    "request",
    ARROW_REQUEST,
    "predictions",
    SHADOW_VERSION,
    SHADOW_STORED,
)
REFUSAL_COLUMNS = ("served_at", "request_id", "model_version", "field", "rule", "records", "record_time")
PREDICTIONS, REFUSALS = "predictions", "refusals"  # the two logs, as the metrics name them


class LogStats(TypedDict):
    """The log's counters: prediction rows (one a prediction), refusal rows (one a field and rule of a
    refused request), files written."""

    logged_rows: int
    pending_rows: int  # waiting for the writer (or for the store to come back), of both logs
    dropped_rows: int  # refused because `max_pending_rows` were waiting
    logged_refusals: int
    dropped_refusals: int
    failed_writes: int
    files: int


@dataclass(frozen=True)
class LoggedRequest:
    """One scored request as the log keeps it."""

    request_id: str
    served_at: datetime  # tz-aware, UTC
    model_version: int
    request: str | bytes  # the validated body: {"records": [...]} as JSON text, or an Arrow IPC stream
    probabilities: np.ndarray
    shadow_version: int | None = None  # the shadow that scored the request too, if one did
    shadow_probabilities: np.ndarray | None = None  # its probabilities, never returned to the client

    @property
    def rows(self) -> int:
        return len(self.probabilities)


@dataclass(frozen=True)
class RefusedRequest:
    """One refused request as the refusal log keeps it: each (field, rule) it broke and its records."""

    request_id: str
    served_at: datetime  # tz-aware, UTC
    model_version: int | None  # serving when it came; None before any model served
    refused: tuple[tuple[str | None, str, int], ...]  # (field, rule, records); field None: the body
    record_time: str | None = None  # the time column of the request's first record that has one, as sent

    @property
    def rows(self) -> int:
        return len(self.refused)


Entry = LoggedRequest | RefusedRequest


class PredictionLog:
    """A bounded buffer of scored requests and the thread that writes them to the store."""

    def __init__(
        self,
        storage: Storage,
        dataset: str,
        model: str,
        settings: ServingSettings,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.storage = storage
        self.dataset = dataset
        self.model = model
        self.batch_rows = settings.log_batch_rows
        self.flush_seconds = settings.log_flush_seconds
        self.max_pending_rows = settings.log_max_pending_rows
        self.metrics = metrics
        self.writer = f"{os.getpid()}{secrets.token_hex(3)}"
        self.logged_rows = 0
        self.dropped_rows = 0  # refused because max_pending_rows were waiting
        self.logged_refusals = 0
        self.dropped_refusals = 0
        self.failed_writes = 0
        self.files = 0
        self._sequence = 0  # names this writer's files, attempts included
        self._pending: deque[Entry] = deque()
        self._pending_rows = 0
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    # ---- the request side: never blocks on the store ---------------------------------------------
    def append(self, entry: Entry) -> bool:
        """Queue a request's predictions, or a refusal; False (and counted) when the buffer is full."""
        with self._wake:
            if self._pending_rows + entry.rows > self.max_pending_rows:
                if isinstance(entry, LoggedRequest):
                    self.dropped_rows += entry.rows
                else:
                    self.dropped_refusals += entry.rows
                if self.metrics is not None:
                    self.metrics.dropped(_log_of(entry), entry.rows)
                return False
            self._pending.append(entry)
            self._pending_rows += entry.rows
            if self.metrics is not None:
                self.metrics.pending(self._pending_rows)
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
            "logged_refusals": self.logged_refusals,
            "dropped_refusals": self.dropped_refusals,
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
            logger.warning("%d log rows could not be written before shutdown", self._pending_rows)

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
        """Write up to `batch_rows` pending rows; None when nothing waited, False when the store failed.

        A file a day and log; when the store fails part way, only what was not written is kept to retry.
        """
        with self._wake:
            batch: list[Entry] = []
            rows = 0
            while self._pending and (not batch or rows + self._pending[0].rows <= self.batch_rows):
                entry = self._pending.popleft()
                batch.append(entry)
                rows += entry.rows
        if not batch:
            return None
        written: list[Entry] = []
        try:
            for _, entries in _by_day_and_log(batch):
                self._write(entries)
                written += entries
        except Exception as error:  # the store is down or refuses: keep the rows, count the failure
            self.failed_writes += 1
            if self.metrics is not None:
                self.metrics.failed_write()
            done = {id(entry) for entry in written}
            kept = [entry for entry in batch if id(entry) not in done]
            logger.warning(
                "log: cannot write %d rows (%s); keeping them", sum(entry.rows for entry in kept), error
            )
            with self._wake:
                self._pending.extendleft(reversed(kept))
            self._written(written)
            return False
        self._written(written)
        return True

    def _written(self, entries: list[Entry]) -> None:
        predictions = sum(entry.rows for entry in entries if isinstance(entry, LoggedRequest))
        refusals = sum(entry.rows for entry in entries) - predictions
        with self._wake:
            self._pending_rows -= predictions + refusals
            if self.metrics is not None:
                self.metrics.pending(self._pending_rows)
        self.logged_rows += predictions
        self.logged_refusals += refusals
        if self.metrics is not None:
            if predictions:
                self.metrics.logged(PREDICTIONS, predictions)
            if refusals:
                self.metrics.logged(REFUSALS, refusals)

    def _write(self, entries: list[Entry]) -> None:
        self._sequence += 1
        name = f"{entries[0].served_at:%H%M%S%f}-{self.writer}-{self._sequence:06d}"
        day = f"{entries[0].served_at:%Y-%m-%d}"
        buffer = io.BytesIO()
        if isinstance(entries[0], LoggedRequest):
            table = self._table([entry for entry in entries if isinstance(entry, LoggedRequest)])
            key = layout.prediction_log(self.dataset, self.model, day, name)
        else:
            table = self._refusal_table([entry for entry in entries if isinstance(entry, RefusedRequest)])
            key = layout.refusal_log(self.dataset, self.model, day, name)
        pq.write_table(table, buffer, compression="zstd")
        with contextlib.suppress(PreconditionFailed):  # a retried write that had succeeded: the key is ours
            self.storage.write_bytes(key, buffer.getvalue(), if_absent=True)
        self.files += 1

    def _table(self, entries: list[LoggedRequest]) -> pa.Table:
        """One row per request, built by Arrow directly (no DataFrame: this thread shares the GIL)."""
        ends = np.cumsum([entry.rows for entry in entries], dtype=np.int32)
        probabilities = np.concatenate([entry.probabilities for entry in entries])
        texts = [entry.request if isinstance(entry.request, str) else None for entry in entries]
        streams = [entry.request if isinstance(entry.request, bytes) else None for entry in entries]
        return pa.table(
            {
                "request_id": pa.array([entry.request_id for entry in entries], pa.string()),
                "served_at": pa.array([entry.served_at for entry in entries], pa.timestamp("us", tz="UTC")),
                "model": pa.array([self.model] * len(entries), pa.string()),
                "model_version": pa.array([entry.model_version for entry in entries], pa.int64()),
                "request": pa.array(texts, pa.string()),
                ARROW_REQUEST: pa.array(streams, pa.binary()),
                "predictions": pa.ListArray.from_arrays(
                    pa.array(np.concatenate([[0], ends]), pa.int32()), pa.array(probabilities, pa.float64())
                ),
                **_shadow_columns(entries),
            }
        )

    def _refusal_table(self, entries: list[RefusedRequest]) -> pa.Table:
        """One row per (field, rule) of each refused request."""
        rows = [(entry, field, rule, records) for entry in entries for field, rule, records in entry.refused]
        return pa.table(
            {
                "served_at": pa.array([row[0].served_at for row in rows], pa.timestamp("us", tz="UTC")),
                "request_id": pa.array([row[0].request_id for row in rows], pa.string()),
                "model": pa.array([self.model] * len(rows), pa.string()),
                "model_version": pa.array([row[0].model_version for row in rows], pa.int64()),
                "field": pa.array([row[1] for row in rows], pa.string()),
                "rule": pa.array([row[2] for row in rows], pa.string()),
                "records": pa.array([row[3] for row in rows], pa.int64()),
                "record_time": pa.array([row[0].record_time for row in rows], pa.string()),
            }
        )


def _shadow_columns(entries: list[LoggedRequest]) -> dict[str, pa.Array]:
    """`shadow_version` (int64) and `shadow_predictions` (list<float64>), null for a request no shadow
    scored."""
    shadowed = [entry.shadow_probabilities is not None for entry in entries]
    versions = [
        entry.shadow_version if scored else None for entry, scored in zip(entries, shadowed, strict=True)
    ]
    sizes = [
        len(entry.shadow_probabilities) if entry.shadow_probabilities is not None else 0 for entry in entries
    ]
    values = [entry.shadow_probabilities for entry in entries if entry.shadow_probabilities is not None]
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int32)]).astype(np.int32)
    return {
        SHADOW_VERSION: pa.array(versions, pa.int64()),
        SHADOW_STORED: pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()),
            pa.array(np.concatenate([*values, np.zeros(0)]), pa.float64()),
            mask=pa.array([not scored for scored in shadowed], pa.bool_()),
        ),
    }


def _log_of(entry: Entry) -> str:
    return PREDICTIONS if isinstance(entry, LoggedRequest) else REFUSALS


def _by_day_and_log(batch: list[Entry]) -> list[tuple[tuple[str, str], list[Entry]]]:
    """The entries of each UTC day they were served on and each log: a file never straddles midnight."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in batch:
        groups.setdefault((f"{entry.served_at:%Y-%m-%d}", _log_of(entry)), []).append(entry)
    return sorted(groups.items())


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
        `prediction`, `shadow_version` (Int64: the shadow that scored it too, <NA> when none did) and
        `shadow_prediction` (its probability, NaN when none), then the records' fields typed as the contract
        says (and `extra`, the undeclared fields as JSON, when the contract keeps them); empty with the
        first columns when none was served. Files written before shadows were logged read as unshadowed.
    """
    start, end = _utc(start), _utc(end)
    root = layout.prediction_log_root(contract.name, model)
    frames = [
        _with_shadow_columns(_with_arrow_column(from_parquet_bytes(storage.read_bytes(key))))
        for key in _keys(storage, root, start, end)
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
    records = [
        record
        for text, stream in zip(stored["request"], stored[ARROW_REQUEST], strict=True)
        for record in (json.loads(text)["records"] if isinstance(text, str) else _arrow_records(stream))
    ]
    counts = stored["predictions"].map(len).to_numpy(dtype=int) if len(stored) else np.zeros(0, dtype=int)
    out: dict[str, Any] = {
        "request_id": np.repeat(stored["request_id"].to_numpy(), counts),
        "record": np.concatenate([np.arange(count) for count in counts]) if len(counts) else [],
        "served_at": np.repeat(stored["served_at"].to_numpy(), counts),
        "model": np.repeat(stored["model"].to_numpy(), counts),
        "model_version": np.repeat(stored["model_version"].to_numpy(), counts),
        PREDICTION_COLUMN: np.concatenate([*stored["predictions"].map(np.asarray), np.zeros(0)]),
        SHADOW_VERSION: pd.array(np.repeat(stored[SHADOW_VERSION].to_numpy(dtype=object), counts), "Int64"),
        SHADOW_PREDICTION: _shadow_predictions(stored[SHADOW_STORED], counts),
        **record_columns(schema, records),
    }
    extras = [schema.extras(record) for record in records]
    if any(extras):
        out[EXTRA_COLUMN] = [json.dumps(extra, sort_keys=True) if extra else None for extra in extras]
    frame = pd.DataFrame(out)
    frame["served_at"] = pd.to_datetime(frame["served_at"], utc=True)
    return frame


def _shadow_predictions(stored: pd.Series, counts: np.ndarray) -> np.ndarray:
    """The shadow's probability of each prediction; NaN where no shadow scored its request."""
    parts = [
        np.asarray(values, dtype=np.float64)
        if isinstance(values, list | np.ndarray)
        else np.full(count, np.nan)
        for values, count in zip(stored, counts.tolist(), strict=True)
    ]
    return np.concatenate([*parts, np.zeros(0)])


def _with_shadow_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A file written before shadows were logged has no columns for them: no request of it was shadowed."""
    if SHADOW_VERSION not in frame.columns:
        frame[SHADOW_VERSION] = None
    if SHADOW_STORED not in frame.columns:
        frame[SHADOW_STORED] = None
    return frame


def _with_arrow_column(frame: pd.DataFrame) -> pd.DataFrame:
    """A file written before Arrow bodies were logged has no column for them."""
    if ARROW_REQUEST not in frame.columns:
        frame[ARROW_REQUEST] = None
    return frame


def _arrow_records(stream: bytes) -> list[dict[str, Any]]:
    """A logged Arrow body's rows as the records a JSON body of the same rows holds."""
    return pa.ipc.open_stream(pa.py_buffer(stream)).read_all().to_pylist()


def read_refusals(
    storage: Storage, contract: Contract, model: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Every refused request in [start, end), oldest first: one row per (field, rule) it broke.

    Args:
        storage: the store the service logs to.
        contract: the data contract the service enforces (names the log).
        model: the registry name of the model.
        start: first instant (tz-aware; naive is read as UTC).
        end: the instant after the last.

    Returns:
        `served_at` (datetime64, UTC), `request_id` (str), `model_version` (Int64: the version serving
        then, <NA> before any served), `field` (str: a declared field, `(undeclared)` for any other; None
        for a problem of the body as a whole: malformed, over a size limit), `rule` (the contract's rule
        name, or `json`, `arrow`, `size`, `min_records`, …), `records` (int64: the records that broke
        it; 0 when none could be read), `record_time` (the time column of the request's first record
        that had one, as sent: what puts the refusal in a period; None when no record had one); empty with
        these columns when nothing was refused.
    """
    start, end = _utc(start), _utc(end)
    root = layout.refusal_log_root(contract.name, model)
    frames = [
        _with_record_time(from_parquet_bytes(storage.read_bytes(key)))
        for key in _keys(storage, root, start, end)
    ]
    if not frames:
        return pd.DataFrame(
            {
                "served_at": pd.Series([], dtype="datetime64[us, UTC]"),
                "request_id": pd.Series([], dtype=object),
                "model_version": pd.Series([], dtype="Int64"),
                "field": pd.Series([], dtype=object),
                "rule": pd.Series([], dtype=object),
                "records": pd.Series([], dtype=np.int64),
                "record_time": pd.Series([], dtype=object),
            }
        )
    stored = pd.concat(frames, ignore_index=True)
    stored = stored.loc[(stored["served_at"] >= start) & (stored["served_at"] < end)]
    stored = stored.sort_values(["served_at", "request_id"], kind="stable").reset_index(drop=True)
    stored["model_version"] = stored["model_version"].astype("Int64")
    stored["records"] = stored["records"].astype(np.int64)
    stored["field"] = stored["field"].astype(object).where(stored["field"].notna(), None)
    return stored[list(REFUSAL_COLUMNS)]


_LISTED_DAYS = 31  # a longer span lists the log's root once instead of one listing a day


def _with_record_time(stored: pd.DataFrame) -> pd.DataFrame:
    """Refusal files written before `record_time` was kept have none."""
    if "record_time" not in stored.columns:
        stored["record_time"] = None
    return stored


def _keys(storage: Storage, root: str, start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """The log's files of the UTC days [start, end) touches (`<root>/<YYYY-MM-DD>/<name>.parquet`).

    A short span lists each day's folder; a long one (monitoring a period from its start, years ago in a
    replay) lists the root once and keeps the days in the span: a listing a day would be thousands.
    """
    first, last = f"{start:%Y-%m-%d}", f"{end - pd.Timedelta(1):%Y-%m-%d}"
    days = pd.date_range(start.normalize(), (end - pd.Timedelta(1)).normalize(), freq="D")
    if len(days) <= _LISTED_DAYS:
        return [key for day in days for key in storage.list(f"{root}/{day:%Y-%m-%d}")]
    return [key for key in storage.list(root) if first <= key[len(root) + 1 :].split("/", 1)[0] <= last]


def read_logged_period(storage: Storage, contract: Contract, model: str, period: str) -> pd.DataFrame:
    """The predictions served during one of the contract's periods (cut in its timezone)."""
    start, end = period_bounds(period, contract.time.period, contract.time.timezone)
    return read_prediction_log(storage, contract, model, start, end)


def _utc(moment: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
