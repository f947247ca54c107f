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
   wrapper, same parameters and rounds), single records at 1, 8 and 32 connections after a warm-up run
   (connections kept busy: the server saturated), then at 8 connections paced to carry at least 2,000
   requests/s (the latency target's load), and driftloop with 1,000 records a request (4 connections),
   as JSON and as an Arrow IPC stream answered in Arrow (the ratio to the bare booster on one thread is
   printed: the batch target is within 2x).
   Both servers run uvicorn with uvloop, httptools and no access log; the naive one with one worker (as
   tutorials run it) and with `--workers`. The server's CPU per request and the cores other processes
   used are measured around each run (/proc): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from bench.serving_floor import POOL, in_process, timed
from bench.serving_load import _LUA, ensure, lua_script, run_wrk, running
from driftloop.core.contract import Contract, load_contract
from driftloop.core.settings import DriftSettings, Settings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import cut_period, ingest_period
from driftloop.data.enrichment import enrich
from driftloop.data.sources import SourceProvenance, SourceTables
from driftloop.data.windows import load_window, resolve_windows
from driftloop.lifecycle.challenger import train_challenger
from driftloop.modelling.features import FeatureEncoder
from driftloop.online import PredictionService
from driftloop.online.arrow import ARROW_STREAM, arrow_answer, read_stream
from driftloop.registry import ModelVersion, Registry

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "data_contracts" / "flights.yaml"
CONCURRENCY = (1, 8, 32)
FIXED_RATE = 2000  # the target: p99 under 10 ms at 8 connections carrying at least this many requests/s
ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "datetime": pa.string(),
               "bool": pa.bool_()}  # fmt: skip
# wrk's `done` hook of bench/serving_load.py, so run_wrk reads this script's results the same way
_DONE = _LUA[_LUA.index("done = function") :] % {}
_ARROW_LUA = """
local file = io.open("%(path)s", "rb")
local body = file:read("*a")
file:close()
request = function()
  return wrk.format("POST", "/predict", {["Content-Type"] = "%(type)s", ["Accept"] = "%(type)s"}, body)
end
"""


def train_champion(store: Path) -> tuple[Registry, ModelVersion, pd.DataFrame]:
    """The main job's first model (Jan-Mar 2013), registered and promoted, and its training rows."""
    contract = load_contract(CONTRACT)
    storage, sources, training = LocalStorage(store), SourceTables(contract), TrainingSettings()
    periods = ["2013-01", "2013-02", "2013-03"]
    versions = [ingest_period(storage, contract, sources.read_period(p), p) for p in periods]
    plan = resolve_windows(contract, training)
    window = load_window(storage, contract, periods, versions, sources.references(), plan)
    registry = Registry(storage, contract.model_name)
    provenance = SourceProvenance(source_fingerprint="bench", reference_tables_sha256={})
    trained = train_challenger(registry, contract, window, "2013-03", training, DriftSettings(), provenance)
    registry.promote(trained.version.version, reason="benchmark")
    return registry, trained.version, window.train_frame.assign(label=window.train_label)


def request_pool() -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """1,000 April flights as clients send them (no target, null for missing) and enriched."""
    contract = load_contract(CONTRACT)
    sources = SourceTables(contract)
    april = cut_period(sources.main(), contract, "2013-04").sample(POOL, random_state=4)
    records = [
        {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items() if k != "arr_delay"}
        for row in april.astype(object).to_dict("records")
    ]
    return records, enrich(april, contract, sources.references())


def arrow_body(records: list[dict[str, Any]], contract: Contract) -> bytes:
    """The records as an Arrow IPC stream of the contract's columns, typed as the contract says."""
    schema = pa.schema(
        [(name, ARROW_TYPES[spec.type]) for name, spec in contract.columns.items() if spec.role != "target"]
    )
    table = pa.Table.from_pylist(records, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def arrow_script(body: bytes, folder: Path) -> Path:
    """A wrk script that POSTs one Arrow body (read from a file: Lua source cannot hold its bytes) and
    asks for the answer in Arrow."""
    (folder / "batch.arrows").write_bytes(body)
    script = folder / "arrow-batch.lua"
    script.write_text(_ARROW_LUA % {"path": folder / "batch.arrows", "type": ARROW_STREAM} + _DONE)
    return script


def arrow_in_process(store: Path, body: bytes) -> list:
    """An Arrow request without HTTP, whole and step by step (driftloop's own work per request)."""
    service = PredictionService.open(Settings.load(store=str(store), contract=str(CONTRACT)))
    service.start()
    model = service.model()
    table = read_stream(body, service.settings.max_arrow_rows)
    columns = model.columns(table)
    scored = model.score_columns(columns)
    what = f"{POOL:,} rows in Arrow"
    steps = {
        "all of answer (with the log), Arrow answer": lambda _: arrow_answer(
            service.answer(body, arrow=True).probabilities, "m", "v1", "r"
        ),
        "read the IPC stream": lambda _: read_stream(body, service.settings.max_arrow_rows),
        "check the columns (pyarrow.compute, NumPy)": lambda _: model.columns(table),
        "score the columns (lookups, features, booster)": lambda _: model.score_columns(columns),
        "the Arrow answer": lambda _: arrow_answer(scored.probabilities, "m", "v1", "r"),
    }
    rows = [timed(step, 200, POOL, f"{what}: {name}") for name, step in steps.items()]
    service.close()
    return rows


def load_runs(
    name: str,
    url: str,
    server: int,
    bodies: list[bytes],
    batch: bytes | None,
    seconds: float,
    folder: Path,
    arrow: bytes | None = None,
) -> list:
    """A warm-up; single records at each concurrency, then at a fixed rate; then (if given) the batch body,
    in JSON and in Arrow."""
    slug = "".join(c if c.isalnum() else "-" for c in name)
    single = lua_script(bodies, "/predict", folder / f"{slug}-single.lua")
    run_wrk(url, single, 8, max(2.0, seconds / 3), server)  # warm-up: connections, caches, the parsed times
    runs = []
    for connections in CONCURRENCY:
        run = run_wrk(url, single, connections, seconds, server, threads=1 if connections == 1 else 2)
        runs.append({"what": name, **run})
    for pause in (2.5, 2.0, 1.5, 1.0, 0.5):  # the longest pause after each response that carries FIXED_RATE
        paced = lua_script(bodies, "/predict", folder / f"{slug}-paced.lua", pause_ms=pause)
        run = run_wrk(url, paced, 8, seconds, server)
        if run["requests_per_second"] >= FIXED_RATE:
            break
    runs.append({"what": f"{name}, paced ({pause} ms pause a connection)", **run})
    if batch is not None:
        # 4 connections: uvicorn's workers share one listening socket, and with 2 connections both often
        # land on the same worker, which leaves the other core idle.
        run = run_wrk(url, lua_script([batch], "/predict", folder / f"{slug}-batch.lua"), 4, seconds, server)
        runs.append(
            {
                "what": f"{name}, {POOL:,} records a request",
                **run,
                "rows_per_second": run["requests_per_second"] * POOL,
            }
        )
    if arrow is not None:
        run = run_wrk(url, arrow_script(arrow, folder), 4, seconds, server)
        runs.append(
            {
                "what": f"{name}, {POOL:,} rows a request in Arrow (Arrow answer)",
                **run,
                "rows_per_second": run["requests_per_second"] * POOL,
            }
        )
    return runs


def naive_runs(
    registry: Registry,
    version: ModelVersion,
    train: pd.DataFrame,
    enriched: pd.DataFrame,
    workers: int,
    seconds: float,
    env: dict[str, str],
    folder: Path,
    port: int,
) -> list:
    """The tutorial handler on the same model's inputs (categorical levels as codes), same rounds."""
    spec = registry.load(version.version).spec
    encoder = FeatureEncoder(spec)
    matrix = pd.DataFrame(encoder.matrix(train), columns=spec.names).assign(label=train["label"].to_numpy())
    matrix.to_parquet(folder / "naive.parquet")
    bodies = [
        json.dumps(
            {name: None if np.isnan(v) else float(v) for name, v in zip(spec.names, row, strict=True)}
        ).encode()
        for row in encoder.matrix(enriched)
    ]
    model = {
        "params": version.lineage.params.for_lightgbm(),
        "rounds": version.lineage.num_rounds,
        "categorical": spec.categorical,
    }
    naive_env = env | {
        "DRIFTLOOP_BENCH_NAIVE_MATRIX": str(folder / "naive.parquet"),
        "DRIFTLOOP_BENCH_NAIVE_MODEL": json.dumps(model),
        "PYTHONPATH": str(REPO),
    }
    runs = []
    for count in sorted({1, workers}):
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.naive_app:app",
            "--port",
            str(port),
            "--workers",
            str(count),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with running(command, f"http://127.0.0.1:{port}/docs", naive_env, folder / "naive.log") as server:
            name = f"naive handler, {count} worker(s)"
            runs += load_runs(name, f"http://127.0.0.1:{port}", server.pid, bodies, None, seconds, folder)
    return runs


def render(results: dict[str, Any]) -> str:
    """The two tables of docs/benchmarks.md."""
    lines = [
        "| server | connections | requests/s | p50 ms | p99 ms | failed | server CPU ms/request "
        "| wrk cores | other cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["driftloop"] + results["naive"]:
        rate = run.get("rows_per_second")
        shown = f"{rate:,.0f} rows/s" if rate else f"{run['requests_per_second']:,.0f}"
        lines.append(
            f"| {run['what']} | {run['connections']} | {shown} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | "
            f"{run['failed']} | {run['server_cpu_ms_per_request']:.3f} | {run['wrk_cores']:.2f} | "
            f"{run['other_cores']:.2f} |"
        )
    lines += ["", "| in process | calls/s | rows/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for row in results["in_process"]:
        lines.append(
            f"| {row['what']} | {row['calls_per_second']:,.0f} | {row['rows_per_second']:,.0f} | "
            f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} |"
        )
    lines += ["", *(f"- {line}" for line in ratios(results))]
    return "\n".join(lines)


def ratios(results: dict[str, Any]) -> list[str]:
    """The batch lines against the bare booster on the same 1,000 rows, one thread (the target: 2x)."""
    floor = next(
        row["rows_per_second"]
        for row in results["in_process"]
        if row["what"] == f"raw Booster.predict, {POOL:,} rows, 1 thread(s)"
    )
    out = []
    for run in results["driftloop"]:
        if run.get("rows_per_second"):
            slower = floor / run["rows_per_second"]
            cores = run["requests_per_second"] * run["server_cpu_ms_per_request"] / 1000
            per_row = run["server_cpu_ms_per_request"] / POOL * 1000
            out.append(
                f"{run['what']}: {run['rows_per_second']:,.0f} rows/s, {slower:.2f}x the booster's "
                f"{floor:,.0f} rows/s on one thread; the server used {cores:.2f} cores, "
                f"{per_row:.2f} µs of CPU a row (the booster: {1e6 / floor:.2f})"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of both servers")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument(
        "--skip-naive",
        action="store_true",
        help="leave out the naive handler (a shorter run of driftloop only)",
    )
    args = parser.parse_args()
    ensure("wrk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLOOP_")}
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-serving-") as temp:
        folder = Path(temp)
        started = time.perf_counter()
        registry, version, train = train_champion(folder / "store")
        print(
            f"champion v{version.version} ({version.lineage.num_rounds} trees) trained in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        records, enriched = request_pool()
        arrow = arrow_body(records, load_contract(CONTRACT))
        results: dict[str, Any] = {
            "in_process": in_process(registry, folder / "store", CONTRACT, records, enriched)
            + arrow_in_process(folder / "store", arrow)
        }
        port = 18700 + os.getpid() % 200
        url = f"http://127.0.0.1:{port}"
        serve = [
            sys.executable,
            "-m",
            "deployments.cli",
            "serve",
            "--store",
            str(folder / "store"),
            "--contract",
            str(CONTRACT),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        bodies = [json.dumps({"records": [record]}).encode() for record in records]
        batch = json.dumps({"records": records}).encode()
        with running(serve, f"{url}/health", env, folder / "serve.log") as server:
            name = f"driftloop serve, {args.workers} worker(s)"
            results["driftloop"] = load_runs(
                name, url, server.pid, bodies, batch, args.seconds, folder, arrow
            )
        results["naive"] = (
            []
            if args.skip_naive
            else naive_runs(
                registry, version, train, enriched, args.workers, args.seconds, env, folder, port + 1
            )
        )
    results["machine"] = {"cpus": os.cpu_count(), "load_after": os.getloadavg()}
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
