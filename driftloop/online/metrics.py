"""The service's Prometheus metrics (GET /metrics), right with one worker process or several.

With `PROMETHEUS_MULTIPROC_DIR` set (`driftloop serve` sets it to a private folder it makes before uvicorn
starts its workers, and removes after), prometheus-client's multiprocess mode is on: each worker writes its
values to memory-mapped files there, and a scrape, whichever worker answers it, sums every worker's files
(`MultiProcessCollector`). Counters and histograms add up over all workers, those that have exited too, so
totals never go back when a worker is replaced. The two gauges are per live worker (`livesum`): a worker's
share leaves with it (`mark_process_dead`, at its shutdown, or at the next scrape when it was killed).
Without the variable (tests, a service built in process), the values are this process's own.

A request costs a handful of increments (each a store into the mapped file in multiprocess mode); a batch
request's probabilities are counted into the histogram's buckets with NumPy, not observed one by one.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from driftloop.online.problems import Tally

MULTIPROCESS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
PROBABILITY_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))  # 0.05, 0.10, …, 1.0
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A shadow scoring one record takes tens of microseconds: finer buckets at the low end.
SHADOW_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5)
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db$")
BODY = ""  # the `field` label of a problem of the body as a whole


class ServiceMetrics:
    """What /metrics publishes, updated as requests are answered and the log is written.

    Args:
        model: the registry name of the model served (a label of the model gauge).
        folder: prometheus-client's multiprocess folder; default `PROMETHEUS_MULTIPROC_DIR`, and
            without it the values are this process's own.
    """

    def __init__(self, model: str, folder: str | None = None) -> None:
        self.model = model
        self.folder = folder if folder is not None else os.environ.get(MULTIPROCESS_FOLDER)
        if self.folder and not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(
                f"{MULTIPROCESS_FOLDER} is set but prometheus_client was imported before it was: "
                "set it before the service's modules are imported"
            )
        # In multiprocess mode the values live in the folder's files; a scrape reads them, not a registry.
        self.registry = None if self.folder else CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "driftloop_predict_requests",
            "POST /predict requests answered, by HTTP status and body format (json, arrow)",
            ["status", "format"],
            registry=registry,
        )
        self.records = Counter(
            "driftloop_predict_records",
            "records answered, by HTTP status and body format: scored (200), or refused by a rule (422)",
            ["status", "format"],
            registry=registry,
        )
        self.latency = Histogram(
            "driftloop_predict_duration_seconds",
            "POST /predict from its first byte read to its answer built, by body format",
            ["format"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.refusals = Counter(
            "driftloop_refusals",
            "refused requests naming a contract field and rule (field empty: the body as a whole)",
            ["field", "rule"],
            registry=registry,
        )
        self.refused_records = Counter(
            "driftloop_refused_records",
            "records refused, by the contract field and rule they broke",
            ["field", "rule"],
            registry=registry,
        )
        self.misses = Counter(
            "driftloop_lookup_misses",
            "records whose reference lookup found no row (missing features), by reference table",
            ["table"],
            registry=registry,
        )
        self.probabilities = Histogram(
            "driftloop_prediction_probability",
            "predicted probabilities, by the model version that served them",
            ["version"],
            buckets=PROBABILITY_BUCKETS,
            registry=registry,
        )
        self.serving = Gauge(
            "driftloop_serving_model",
            "worker processes serving this model version now (0: swapped out)",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.log_rows = Counter(
            "driftloop_log_rows",
            "rows of the prediction log (one a prediction) and of the refusal log (one a field and rule of "
            "a refused request), by outcome: logged, or dropped because too many were waiting",
            ["log", "outcome"],
            registry=registry,
        )
        self.log_pending = Gauge(
            "driftloop_log_pending_rows",
            "rows of both logs waiting for the writer (or for the store to come back)",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.log_failures = Counter(
            "driftloop_log_failed_writes",
            "prediction and refusal log writes the store refused",
            registry=registry,
        )
        self.shadow_latency = Histogram(
            "driftloop_shadow_duration_seconds",
            "the shadow's share of a POST /predict: scoring the request's rows with the shadow challenger "
            "(DRIFTLOOP_SERVE_SHADOW), by body format; what shadowing adds to each answer's latency",
            ["format"],
            buckets=SHADOW_BUCKETS,
            registry=registry,
        )
        self.shadow_failures = Counter(
            "driftloop_shadow_failures",
            "requests the shadow failed to score (answered by the champion all the same; nothing logged "
            "for the shadow)",
            registry=registry,
        )
        self.shadowing = Gauge(
            "driftloop_shadow_model",
            "worker processes scoring this model version as the shadow now (0: no longer the shadow)",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}  # labelled children, looked up once
        self._serving: str | None = None
        self._shadow: str | None = None

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # ---- per request --------------------------------------------------------------------------------
    def answered(self, status: int, body_format: str, records: int, seconds: float) -> None:
        """A /predict answer: its status, the records it scored or refused, how long it took."""
        code = str(status)
        self._child(self.requests, code, body_format).inc()
        if records:
            self._child(self.records, code, body_format).inc(records)
        self._child(self.latency, body_format).observe(seconds)

    def scored(self, version: str, probabilities: np.ndarray, misses: dict[str, int]) -> None:
        """A scored request's probabilities and lookup misses."""
        child = self._child(self.probabilities, version)
        if len(probabilities) == 1:
            child.observe(float(probabilities[0]))
        else:
            _observe_many(child, self.probabilities, probabilities)
        for table, count in misses.items():
            if count:
                self._child(self.misses, table).inc(count)

    def shadowed(self, body_format: str, seconds: float) -> None:
        """The shadow scored a request's rows in `seconds`."""
        self._child(self.shadow_latency, body_format).observe(seconds)

    def shadow_failed(self) -> None:
        self.shadow_failures.inc()

    def refused(self, tally: Tally) -> None:
        """A refused request: each (field, rule) it broke, and how many records broke it."""
        for (field, rule), records in tally.items():
            label = field if field is not None else BODY
            self._child(self.refusals, label, rule).inc()
            if records:
                self._child(self.refused_records, label, rule).inc(records)

    # ---- the model and the logs ---------------------------------------------------------------------
    def now_serving(self, version: str) -> None:
        """This worker serves `version` now (and no longer the one before)."""
        if self._serving is not None:
            self._child(self.serving, self.model, self._serving).set(0)
        self._child(self.serving, self.model, version).set(1)
        self._serving = version

    def now_shadowing(self, version: str | None) -> None:
        """This worker's shadow is `version` now (None: none)."""
        if self._shadow is not None:
            self._child(self.shadowing, self.model, self._shadow).set(0)
        if version is not None:
            self._child(self.shadowing, self.model, version).set(1)
        self._shadow = version

    def logged(self, log: str, rows: int) -> None:
        self._child(self.log_rows, log, "logged").inc(rows)

    def dropped(self, log: str, rows: int) -> None:
        self._child(self.log_rows, log, "dropped").inc(rows)

    def pending(self, rows: int) -> None:
        self.log_pending.set(rows)

    def failed_write(self) -> None:
        self.log_failures.inc()

    # ---- the scrape ---------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The text format of every metric: all workers' (multiprocess mode) or this process's."""
        if self.registry is not None:
            return generate_latest(self.registry)
        assert self.folder is not None
        _forget_dead_workers(self.folder)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.folder)
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is exiting: its live gauges leave the sums (multiprocess mode)."""
        if self.folder:
            mark_process_dead(os.getpid(), self.folder)


def _observe_many(child: Any, histogram: Histogram, observed: np.ndarray) -> None:
    """`observe` for each value, done as one count per bucket (`Histogram.observe`'s own bookkeeping:
    a value goes to the first bucket whose upper bound it does not exceed, and to the sum)."""
    bounds = np.asarray(histogram._upper_bounds)
    counts = np.bincount(np.searchsorted(bounds, observed, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts).tolist():
        child._buckets[index].inc(int(counts[index]))
    child._sum.inc(float(observed.sum()))


def _forget_dead_workers(folder: str) -> None:
    """Mark the workers whose process is gone (killed, so never shut down) dead: their live gauges go."""
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        found = _LIVE_FILE.search(os.path.basename(path))
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, folder)
        except PermissionError:  # alive, another user's
            continue
