"""Online serving: `driftloop serve` against the naive FastAPI handler and the bare booster, in one run.

    .venv/bin/python -m bench.serving [--seconds 10] [--workers 2] [--json PATH]

What it does, on the real flights data:
1. trains the champion the main job starts with (January-March 2013, default settings) into a fresh
   temporary store and promotes it;
2. takes 1,000 real April flights as the request pool: single-record bodies rotate through it, and one
   body carries all 1,000;
3. in process: the raw `Booster.predict` on one NumPy row and on the 1,000-row matrix (the floor), and
   `PredictionService.predict` on the same bodies without HTTP (driftloop's own work per request);
4. over loopback with wrk (installed with apt-get when missing and run as root), each run bounded to
   `--seconds`: `driftloop serve` (prediction log on, to the temporary store) and the naive tutorial
   handler (`bench/naive_app.py`: `model.predict_proba(pd.DataFrame([record]))` on LightGBM's scikit-learn
   wrapper, same parameters and rounds), single records at 1, 8 and 32 connections, after a warm-up run.
   Both servers run uvicorn with uvloop, httptools and no access log.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.serving_load import ensure_wrk, lua_script, run_wrk, running
from driftloop.batches import cut_period, ingest_period
from driftloop.challenger import SourceProvenance, train_challenger
from driftloop.contract import load_contract
from driftloop.enrichment import enrich
from driftloop.features import FeatureEncoder
from driftloop.online import PredictionService
from driftloop.registry import Registry
from driftloop.settings import DriftSettings, Settings, TrainingSettings
from driftloop.sources import SourceTables
from driftloop.storage import LocalStorage
from driftloop.windows import load_window, resolve_windows

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "data_contracts" / "flights.yaml"
POOL = 1000
CONCURRENCY = (1, 8, 32)


def train_champion(store: Path) -> tuple[Registry, pd.DataFrame, Any]:
    """The main job's first model (Jan-Mar 2013), registered and promoted; its training frame and spec."""
    contract = load_contract(CONTRACT)
    storage, sources, training = LocalStorage(store), SourceTables(contract), TrainingSettings()
    periods = ["2013-01", "2013-02", "2013-03"]
    versions = [ingest_period(storage, contract, sources.main(), p, labels=sources.labels()) for p in periods]
    window = load_window(
        storage, contract, periods, versions, sources.references(), resolve_windows(contract, training)
    )
    registry = Registry(storage, contract.model_name)
    provenance = SourceProvenance(source_fingerprint="bench", reference_tables_sha256={})
    challenger = train_challenger(
        registry, contract, window, "2013-03", training, DriftSettings(), provenance
    )
    registry.promote(challenger.version.version, reason="benchmark")
    return registry, window.train_frame.assign(label=window.train_label), challenger.version


def request_pool(contract_path: Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    contract = load_contract(contract_path)
    april = cut_period(SourceTables(contract).main(), contract, "2013-04").sample(POOL, random_state=4)
    records = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items() if k != "arr_delay"}
        for row in april.astype(object).to_dict("records")
    ]
    return records, enrich(april, contract, SourceTables(contract).references())


def timed(call: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def in_process_row(name: str, times: list[float], rows: int = 1) -> dict[str, Any]:
    return {
        "what": name,
        "requests_per_second": 1 / statistics.fmean(times),
        "rows_per_second": rows / statistics.fmean(times),
        "p50_ms": float(np.percentile(times, 50)) * 1000,
        "p99_ms": float(np.percentile(times, 99)) * 1000,
    }


def in_process(
    registry: Registry, store: Path, records: list[dict[str, Any]], enriched: pd.DataFrame
) -> list[dict]:
    model = registry.load(registry.require_champion().version)
    matrix = FeatureEncoder(model.spec).matrix(enriched)
    rows = []
    for threads in (2, 1):
        booster = lambda i, t=threads: model.booster.predict(matrix[i % POOL : i % POOL + 1], num_threads=t)  # noqa: E731
        calls = iter(range(10**9))
        rows.append(in_process_row(f"raw Booster.predict, one row, {threads} thread(s)",
                                   timed(lambda b=booster: b(next(calls)), 5000)))  # fmt: skip
        batch = timed(lambda t=threads: model.booster.predict(matrix, num_threads=t), 200)
        rows.append(in_process_row(f"raw Booster.predict, {POOL} rows, {threads} thread(s)", batch, POOL))
    service = PredictionService.open(Settings.load(store=str(store), contract=str(CONTRACT)))
    service.start()
    bodies = [json.dumps({"records": [record]}).encode() for record in records]
    calls = iter(range(10**9))
    rows.append(in_process_row("PredictionService.predict (no HTTP), one record",
                               timed(lambda: service.predict(bodies[next(calls) % POOL]), 5000)))  # fmt: skip
    whole = json.dumps({"records": records}).encode()
    rows.append(in_process_row(f"PredictionService.predict (no HTTP), {POOL} records",
                               timed(lambda: service.predict(whole), 100), POOL))  # fmt: skip
    service.close()
    return rows


def load_runs(
    name: str, url: str, bodies: list[bytes], batch: bytes | None, seconds: float, folder: Path
) -> list[dict]:
    slug = "".join(c if c.isalnum() else "-" for c in name)
    single = lua_script(bodies, "/predict", folder / f"{slug}-single.lua")
    run_wrk(url, single, 8, max(2.0, seconds / 3))  # warm-up: connections, caches, the allocator
    runs = [
        {"what": name, **run_wrk(url, single, c, seconds, threads=1 if c == 1 else 2)} for c in CONCURRENCY
    ]
    if batch is not None:
        script = lua_script([batch], "/predict", folder / f"{slug}-batch.lua")
        run = run_wrk(url, script, 2, seconds, threads=1)
        runs.append({"what": f"{name}, {POOL} records a request", **run,
                     "rows_per_second": run["requests_per_second"] * POOL})  # fmt: skip
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of both servers")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    ensure_wrk()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLOOP_")}
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-serving-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        registry, train, version = train_champion(folder / "store")
        print(f"champion v{version.version} trained in {time.perf_counter() - started:.0f} s", flush=True)
        records, enriched = request_pool(CONTRACT)
        results: dict[str, Any] = {"in_process": in_process(registry, folder / "store", records, enriched)}
        bodies = [json.dumps({"records": [record]}).encode() for record in records]
        port = 18700 + os.getpid() % 200
        serve = [sys.executable, "-m", "deployments.cli", "serve", "--store", str(folder / "store"),
                 "--contract", str(CONTRACT), "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
        with running(serve, f"http://127.0.0.1:{port}/health", env, folder / "serve.log"):
            results["driftloop"] = load_runs(f"driftloop serve, {args.workers} workers", f"http://127.0.0.1:{port}",
                                             bodies, json.dumps({"records": records}).encode(), args.seconds,
                                             folder)  # fmt: skip
        results["naive"] = naive_runs(registry, version, train, enriched, args, env, folder, port + 1)
    results["machine"] = {"cpus": os.cpu_count(), "load_after": os.getloadavg()}
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def naive_runs(registry: Registry, version: Any, train: pd.DataFrame, enriched: pd.DataFrame, args: Any,
               env: dict[str, str], folder: Path, port: int) -> list[dict]:  # fmt: skip
    """The tutorial handler, with one worker (as tutorials run it) and with as many as driftloop."""
    spec = registry.load(version.version).spec
    names = spec.names
    matrix = pd.DataFrame(FeatureEncoder(spec).matrix(train), columns=names).assign(
        label=train["label"].to_numpy()
    )
    matrix.to_parquet(folder / "naive.parquet")
    features = FeatureEncoder(spec).matrix(enriched)
    bodies = [
        json.dumps({n: (None if np.isnan(v) else float(v)) for n, v in zip(names, row, strict=True)}).encode()
        for row in features
    ]
    model = {
        "params": version.lineage.params,
        "rounds": version.lineage.num_rounds,
        "categorical": spec.categorical,
    }
    naive_env = env | {"DRIFTLOOP_BENCH_NAIVE_MATRIX": str(folder / "naive.parquet"),
                       "DRIFTLOOP_BENCH_NAIVE_MODEL": json.dumps(model), "PYTHONPATH": str(REPO)}  # fmt: skip
    runs = []
    for workers in sorted({1, args.workers}):
        command = [sys.executable, "-m", "uvicorn", "bench.naive_app:app", "--port", str(port), "--workers",
                   str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
                   "warning"]  # fmt: skip
        with running(command, f"http://127.0.0.1:{port}/docs", naive_env, folder / "naive.log"):
            runs += load_runs(f"naive handler, {workers} worker(s)", f"http://127.0.0.1:{port}", bodies, None,
                              args.seconds, folder)  # fmt: skip
    return runs


def render(results: dict[str, Any]) -> str:
    lines = ["| server | connections | requests/s | p50 ms | p99 ms | failed | load before |",
             "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for run in results["driftloop"] + results["naive"]:
        rate = (
            f"{run['rows_per_second']:,.0f} rows/s"
            if "rows_per_second" in run
            else f"{run['requests_per_second']:,.0f}"
        )
        lines.append(f"| {run['what']} | {run['connections']} | {rate} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | "
                     f"{run['failed']} | {run['load_before']} |")  # fmt: skip
    lines += ["", "| in process | calls/s | rows/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for row in results["in_process"]:
        lines.append(f"| {row['what']} | {row['requests_per_second']:,.0f} | {row['rows_per_second']:,.0f} | "
                     f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
