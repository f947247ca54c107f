"""The in-process half of `bench/serving.py`: the bare booster (the floor) and driftloop without HTTP.

Every number is a median or percentile of back-to-back calls in this process: what the library costs
when nothing else (HTTP, other requests, the prediction log's thread) shares the interpreter.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.settings import Settings
from driftloop.modelling.features import FeatureEncoder
from driftloop.online import PredictionService
from driftloop.online.schema import record_columns
from driftloop.registry import Registry

POOL = 1000


def timed(call: Callable[[int], object], count: int, rows: int, what: str) -> dict[str, Any]:
    """Call `call(i)` `count` times; calls/s, rows/s and the p50/p99 of one call."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    mean = statistics.fmean(times)
    return {
        "what": what,
        "calls_per_second": 1 / mean,
        "rows_per_second": rows / mean,
        "p50_ms": float(np.percentile(times, 50)) * 1000,
        "p99_ms": float(np.percentile(times, 99)) * 1000,
    }


def in_process(
    registry: Registry, store: Path, contract: Path, records: list[dict[str, Any]], enriched: pd.DataFrame
) -> list:
    """The floor (the bare booster) and driftloop's own work per request, without HTTP."""
    model = registry.load(registry.require_champion().version)
    matrix = FeatureEncoder(model.spec).matrix(enriched)
    booster = model.booster
    rows = []
    for threads in (1, 2):
        rows.append(
            timed(
                lambda i, t=threads: booster.predict(matrix[i % POOL : i % POOL + 1], num_threads=t),
                5000,
                1,
                f"raw Booster.predict, one NumPy row, {threads} thread(s)",
            )
        )
        rows.append(
            timed(
                lambda _, t=threads: booster.predict(matrix, num_threads=t),
                200,
                POOL,
                f"raw Booster.predict, {POOL:,} rows, {threads} thread(s)",
            )
        )
    service = PredictionService.open(Settings.load(store=str(store), contract=str(contract)))
    service.start()
    bodies = [json.dumps({"records": [record]}).encode() for record in records]
    whole = json.dumps({"records": records}).encode()
    rows.append(
        timed(
            lambda i: service.predict(bodies[i % POOL]),
            5000,
            1,
            "PredictionService.predict without HTTP, one record",
        )
    )
    rows.append(
        timed(
            lambda _: service.predict(whole),
            100,
            POOL,
            f"PredictionService.predict without HTTP, {POOL:,} records",
        )
    )
    rows += phases(service, bodies[0], "one record") + phases(service, whole, f"{POOL:,} records")
    service.close()
    return rows


def phases(service: PredictionService, body: bytes, what: str) -> list:
    """Where one request's time goes inside `PredictionService.predict`, step by step."""
    model = service.model()
    records = model.records(body)
    columns = record_columns(model.schema, records)
    joined, _ = model.references.join(columns)
    inputs = {**columns, **joined}
    matrix = model.encoder.matrix(inputs)
    steps = {
        "validate the body (pydantic-core)": lambda _: model.records(body),
        "typed columns": lambda _: record_columns(model.schema, records),
        "reference lookups": lambda _: model.references.join(columns),
        "feature matrix (FeatureEncoder)": lambda _: model.encoder.matrix(inputs),
        "Booster.predict": lambda _: model.booster.predict(matrix, num_threads=model.threads),
        "all of predict (with the response and the log)": lambda _: service.predict(body),
    }
    return [timed(step, 300, len(records), f"{what}: {name}") for name, step in steps.items()]
