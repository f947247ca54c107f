"""Traffic for the service from the source's own records: request bodies as a client writes them, and what
the answers add up to.

A record is what a client knows before the outcome: every column the contract declares but the target,
typed as the request schema expects it (an int column's 2013.0 is 2013, a missing value is null, a
datetime is ISO-8601 text), in time order. `send` posts them one request at a time, as one client does,
within a rate, a record count and a time limit (`driftloop traffic`, and the live replay, `run --live`).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.records import Record
from driftloop.core.times import local_times


def client_columns(contract: Contract) -> list[str]:
    """The fields a client sends: every declared column except the target (it is not known yet)."""
    return [name for name, spec in contract.columns.items() if spec.role != "target"]


def _values(values: pd.Series, kind: str) -> list[Any]:
    """One column as JSON-ready Python values of the contract's type, None where missing."""
    missing = values.isna().to_numpy()
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(values):
        texts = values.map(lambda moment: moment.isoformat()).to_numpy(dtype=object)
    elif kind == "int":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
        texts = np.where(whole, numbers, 0).astype(np.int64).astype(object)
        missing = missing | ~whole
    elif kind == "float":
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        texts = numbers.astype(object)
        missing = missing | ~np.isfinite(numbers)
    elif kind == "bool":
        texts = values.astype(object).map(bool).to_numpy(dtype=object)
    else:
        texts = values.astype(object).map(str).to_numpy(dtype=object)
    return [None if gone else value for value, gone in zip(texts.tolist(), missing.tolist(), strict=True)]


def client_records(rows: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """The rows as a client would send them, oldest first (rows without a readable time last)."""
    time = contract.time
    order = np.argsort(
        local_times(rows, time.column, time.timezone, time.format)
        .dt.tz_convert("UTC")
        .to_numpy(dtype="datetime64[ns]"),
        kind="stable",
    )
    ordered = rows.iloc[order]
    names = [name for name in client_columns(contract) if name in ordered.columns]
    columns = [_values(ordered[name], contract.columns[name].type) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def request_bodies(records: list[dict[str, Any]], batch: int) -> Iterator[tuple[bytes, int]]:
    """`{"records": [...]}` bodies of up to `batch` records each, with their record counts."""
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        yield json.dumps({"records": chunk}, allow_nan=False).encode(), len(chunk)


class TrafficSummary(Record):
    """What a run of traffic sent and what came back."""

    requests: int
    sent_records: int
    answered_records: int  # scored (2xx)
    refused_records: int  # in requests the contract refused (4xx)
    refusals: dict[str, int]  # "field: rule" -> records refused for it
    failed_requests: int  # 5xx, or no answer at all
    failures: dict[str, int]  # "503" or the transport error's name -> requests
    versions: dict[str, int]  # model version -> records it answered
    p50_ms: float | None
    p99_ms: float | None
    seconds: float

    def lines(self) -> list[str]:
        ordered = sorted(self.versions.items(), key=lambda item: (len(item[0]), item[0]))
        versions = ", ".join(f"{version}: {n:,}" for version, n in ordered)
        refusals = ", ".join(f"{rule} ({n:,})" for rule, n in sorted(self.refusals.items()))
        latency = "-" if self.p50_ms is None else f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
        failures = ", ".join(f"{kind} ({n:,})" for kind, n in sorted(self.failures.items()))
        return [
            f"sent {self.sent_records:,} records in {self.requests:,} requests in {self.seconds:.1f} s",
            f"answered {self.answered_records:,} records" + (f" by {versions}" if versions else ""),
            f"refused {self.refused_records:,} records" + (f": {refusals}" if refusals else ""),
            f"failed {self.failed_requests:,} requests" + (f": {failures}" if failures else ""),
            f"latency {latency}",
        ]


@dataclass
class TrafficTally:
    """Answers counted as they come (one request at a time)."""

    requests: int = 0
    sent: int = 0
    answered: int = 0
    refused: int = 0
    failed: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def answer(self, records: int, status: int, body: dict[str, Any] | None, seconds: float) -> None:
        """Count one answered request: its status, what it names, how long it took."""
        self.requests += 1
        self.sent += records
        self.latencies.append(seconds)
        if 200 <= status < 300 and body is not None:
            self.answered += records
            self.versions[str(body.get("model_version", "?"))] += records
        elif 400 <= status < 500:
            self.refused += records
            for rule, count in refused_by_rule(body, records).items():
                self.refusals[rule] += count
        else:
            self.failed += 1
            self.failures[str(status)] += 1

    def no_answer(self, records: int, error: str) -> None:
        self.requests += 1
        self.sent += records
        self.failed += 1
        self.failures[error] += 1

    def summary(self, seconds: float) -> TrafficSummary:
        times = np.array(self.latencies) * 1000
        return TrafficSummary(
            requests=self.requests,
            sent_records=self.sent,
            answered_records=self.answered,
            refused_records=self.refused,
            refusals=dict(self.refusals),
            failed_requests=self.failed,
            failures=dict(self.failures),
            versions=dict(self.versions),
            p50_ms=round(float(np.percentile(times, 50)), 3) if len(times) else None,
            p99_ms=round(float(np.percentile(times, 99)), 3) if len(times) else None,
            seconds=round(seconds, 3),
        )


def refused_by_rule(body: dict[str, Any] | None, records: int) -> dict[str, int]:
    """Records of a refused request by "field: rule": each record counted once per rule it broke; a problem
    of the whole body (too large) counts every record."""
    problems = (body or {}).get("detail") or []
    if not isinstance(problems, list) or not problems:
        return {"(body): refused": records}
    seen: dict[str, set[int]] = {}
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        rule = f"{problem.get('field') or '(body)'}: {problem.get('rule') or 'refused'}"
        record = problem.get("record")
        seen.setdefault(rule, set()).update(range(records) if record is None else {int(record)})
    return {rule: len(rows) for rule, rows in seen.items()}


def pace(rate: float | None, sent_requests: int, elapsed: float) -> float:
    """Seconds to wait before the next request so that `rate` requests a second are not exceeded."""
    if not rate or math.isinf(rate):
        return 0.0
    return max(0.0, sent_requests / rate - elapsed)


def send(
    records: list[dict[str, Any]],
    url: str,
    *,
    rate: float | None = None,
    seconds: float | None = None,
    batch: int = 1,
    timeout: float = 30.0,
    progress: Callable[[int], object] = lambda records: None,
) -> TrafficSummary:
    """POST the records to `url`/predict, `batch` a request, one request at a time.

    Args:
        records: what a client sends (`client_records`), in order.
        url: the service's address.
        rate: requests a second at most (None: as fast as answers come).
        seconds: stop sending after this long (None: when the records are sent).
        batch: records a request.
        timeout: seconds to wait for each answer.
        progress: called with each request's record count once it is answered.

    Returns:
        What was sent and what came back; a request with no answer or a 5xx is a failure, not an error.
    """
    import httpx

    tally = TrafficTally()
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for body, count in request_bodies(records, batch):
            elapsed = time.monotonic() - started
            if seconds is not None and elapsed >= seconds:
                break
            wait = pace(rate, tally.requests, elapsed)
            if seconds is not None:
                wait = min(wait, max(0.0, seconds - elapsed))
            if wait:
                time.sleep(wait)
                if seconds is not None and time.monotonic() - started >= seconds:
                    break
            sent_at = time.monotonic()
            try:
                answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as error:
                tally.no_answer(count, type(error).__name__)
            else:
                tally.answer(count, answer.status_code, _json(answer), time.monotonic() - sent_at)
            progress(count)
    return tally.summary(time.monotonic() - started)


def _json(answer: Any) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
