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
   as JSON and as an Arrow IPC stream answered in Arrow; then Arrow requests of 10,000 other April rows;
   then both Arrow lines again on a server of one worker (2 connections): one core against the booster's
   one thread. The Arrow lines send 8 bodies in turn, the same rows in other orders (one body sent over
   and over would let the prediction log's zstd compress it almost for free). Each batch line's ratio to
   the bare booster on the same rows, one thread, is printed: the batch target is within 2x.
   Both servers run uvicorn with uvloop, httptools and no access log; the naive one with one worker (as
   tutorials run it) and with `--workers`. The server's CPU per request and the cores other processes
   used are measured around each run (/proc): the machine is shared.
5. the shadow's cost: a copy of the champion's trees is registered as v2 (after the champion, never
   promoted: the shadow `DRIFTLOOP_SERVE_SHADOW=true` picks), then `driftloop serve` without and with the
   shadow, alternately for `--shadow-rounds` rounds, each after a warm-up: single records at 1 connection
   and at 8 connections paced as in 4. In process, `PredictionService.predict` of one record without and
   with the shadow, and the shadow's own step on one record and on 1,000: with the champion's feature
   spec (the copy: its matrix is reused) and with one of its own (its encoder builds the matrix first).
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

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

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
from driftloop.online.schema import record_columns
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
local bodies = {}
for _, path in ipairs({%(paths)s}) do
  local file = io.open(path, "rb")
  table.insert(bodies, file:read("*a"))
  file:close()
end
local index = 0
request = function()
  index = index %% #bodies + 1
  return wrk.format("POST", "/predict", {["Content-Type"] = "%(type)s", ["Accept"] = "%(type)s"},
                    bodies[index])
end
"""
ARROW_BODIES = 8  # distinct bodies in turn: the log's zstd meets new bytes, as with real traffic
BIG = 10_000  # rows of the larger Arrow requests (a bulk client's batch; the JSON line's limit too)


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


def register_shadow(registry: Registry, version: ModelVersion) -> ModelVersion:
    """The champion's trees registered again as the next version (one more newline: other model bytes, the
    same spec file): a challenger registered after the champion and never promoted, i.e. the shadow."""
    number = version.version
    contract, yardsticks = registry.contract(number), registry.yardsticks(number)
    assert contract is not None and yardsticks is not None
    return registry.register(
        model_text=registry.model_text(number) + "\n",
        spec=registry.load(number).spec,
        card=registry.card(number),
        reference=registry.reference(number),
        contract=contract,
        lineage=version.lineage,
        metrics=version.metrics,
        yardsticks=yardsticks,
    )


def request_pool(size: int = POOL, seed: int = 4) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """`size` April flights as clients send them (no target, null for missing) and enriched."""
    contract = load_contract(CONTRACT)
    sources = SourceTables(contract)
    april = cut_period(sources.main(), contract, "2013-04").sample(size, random_state=seed)
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


def arrow_bodies(records: list[dict[str, Any]], contract: Contract) -> list[bytes]:
    """`ARROW_BODIES` Arrow bodies of the pool's 1,000 rows, each in another order: the rows the booster's
    floor is measured on, and bytes that differ from one request to the next (one body sent over and over
    would let the prediction log's zstd compress each after the first almost for free)."""
    order = np.arange(len(records))
    bodies = []
    for seed in range(ARROW_BODIES):
        if seed:
            np.random.default_rng(seed).shuffle(order)
        bodies.append(arrow_body([records[i] for i in order], contract))
    return bodies


def arrow_script(bodies: list[bytes], folder: Path) -> Path:
    """A wrk script that POSTs the Arrow bodies in turn (read from files: Lua source cannot hold their
    bytes) and asks for the answers in Arrow."""
    paths = []
    for index, body in enumerate(bodies):
        path = folder / f"batch-{len(body)}-{index}.arrows"
        path.write_bytes(body)
        paths.append(json.dumps(str(path)))
    script = folder / f"arrow-batch-{len(bodies[0])}.lua"
    script.write_text(_ARROW_LUA % {"paths": ", ".join(paths), "type": ARROW_STREAM} + _DONE)
    return script


def arrow_in_process(store: Path, body: bytes) -> list:
    """An Arrow request without HTTP, whole and step by step (driftloop's own work per request)."""
    service = PredictionService.open(Settings.load(store=str(store), contract=str(CONTRACT)))
    service.start()
    model = service.model()
    table = read_stream(body, service.settings.max_arrow_rows)
    columns, coded = model.columns(table)
    scored = model.score_columns(columns, coded)
    what = f"{POOL:,} rows in Arrow"
    steps = {
        "all of answer (with the log), Arrow answer": lambda _: arrow_answer(
            service.answer(body, arrow=True).probabilities, "m", "v1", "r"
        ),
        "read the IPC stream": lambda _: read_stream(body, service.settings.max_arrow_rows),
        "check the columns (pyarrow.compute, NumPy)": lambda _: model.columns(table),
        "score the columns (lookups, features, booster)": lambda _: model.score_columns(columns, coded),
        "the Arrow answer": lambda _: arrow_answer(scored.probabilities, "m", "v1", "r"),
    }
    rows = [timed(step, 200, POOL, f"{what}: {name}") for name, step in steps.items()]
    service.close()
    return rows


def shadow_in_process(store: Path, records: list[dict[str, Any]]) -> list:
    """One record through `PredictionService.predict` without and with the shadow, and the shadow's own step
    (`ServedModel.score_alongside`) on one record and on 1,000, with the champion's spec and with its own."""
    settings = Settings.load(store=str(store), contract=str(CONTRACT))
    bodies = [json.dumps({"records": [record]}).encode() for record in records]
    rows = []
    for shadow in (False, True, False, True):  # alternately: the machine is shared
        serving = settings.serving.model_copy(update={"shadow": shadow})
        service = PredictionService.open(settings.model_copy(update={"serving": serving}))
        service.start()
        for i in range(500):  # warm: the encoder's remembered times, the allocator
            service.predict(bodies[i % POOL])
        what = f"predict one record, shadow {'on' if shadow else 'off'}"
        rows.append(timed(lambda i, s=service: s.predict(bodies[i % POOL]), 5000, 1, what))
        if shadow and len(rows) == 2:
            rows += shadow_steps(service, records)
        service.close()
    return rows


def shadow_steps(service: PredictionService, records: list[dict[str, Any]]) -> list:
    """The shadow's work alone: the champion's matrix reused (same spec file), or its own encoder first."""
    assert service.shadow is not None and service.shadow.current is not None
    champion, shadow = service.model(), service.shadow.current
    rows = []
    for count in (1, POOL):
        scored = champion.score_columns(record_columns(champion.schema, records[:count]))
        what = "one record" if count == 1 else f"{POOL:,} records"
        calls = 2000 // count + 200
        reused = f"shadow step, {what}, the champion's spec (matrix reused)"
        rows.append(timed(lambda _, s=scored: shadow.score_alongside(champion, s), calls, count, reused))
        own = f"shadow step, {what}, a spec of its own (its encoder, then its booster)"
        rows.append(
            timed(
                lambda _, s=scored: shadow.booster.predict(shadow.encoder.matrix(s.inputs), num_threads=1),
                calls,
                count,
                own,
            )
        )
    return rows


def find_pause(url: str, bodies: list[bytes], seconds: float, server: int, folder: Path) -> float:
    """The longest pause after each response at which 8 connections carry `FIXED_RATE` requests/s."""
    for pause in (2.5, 2.0, 1.5, 1.0, 0.5):
        paced = lua_script(bodies, "/predict", folder / "pause-search.lua", pause_ms=pause)
        if run_wrk(url, paced, 8, seconds, server)["requests_per_second"] >= FIXED_RATE:
            return pause
    return 0.5


def shadow_runs(
    serve: list[str],
    port: int,
    env: dict[str, str],
    bodies: list[bytes],
    args: argparse.Namespace,
    folder: Path,
) -> list:
    """Single records without and with the shadow, alternately: 1 connection, then 8 paced at one pause.

    Each server gets a port of its own (`serve` is the command without `--port`): a port just closed can
    still hold the last run's connections."""
    single = lua_script(bodies, "/predict", folder / "shadow-single.lua")
    runs: list[dict[str, Any]] = []
    pause: float | None = None
    for round_ in range(1, args.shadow_rounds + 1):
        for shadow in (False, True):
            state = "on" if shadow else "off"
            server_env = env | ({"DRIFTLOOP_SERVE_SHADOW": "true"} if shadow else {})
            port += 1
            url = f"http://127.0.0.1:{port}"
            command = [*serve, "--port", str(port)]
            with running(
                command, f"{url}/health", server_env, folder / f"serve-shadow-{state}.log"
            ) as server:
                if shadow:
                    health = httpx.get(f"{url}/health").json()
                    assert health.get("shadow_version") == "v2", health
                run_wrk(url, single, 8, max(2.0, args.seconds / 3), server.pid)  # warm-up
                if pause is None:
                    pause = find_pause(url, bodies, args.seconds, server.pid, folder)
                name = f"driftloop serve, {args.workers} worker(s), shadow {state} (round {round_})"
                run = run_wrk(url, single, 1, args.seconds, server.pid, threads=1)
                runs.append({"what": name, "shadow": shadow, "round": round_, **run})
                paced = lua_script(bodies, "/predict", folder / "shadow-paced.lua", pause_ms=pause)
                run = run_wrk(url, paced, 8, args.seconds, server.pid)
                runs.append({"what": f"{name}, paced ({pause} ms pause a connection)", "shadow": shadow,
                             "round": round_, **run})  # fmt: skip
                if shadow:  # the shadow's own step, as the server measured it (warm-up included)
                    runs[-1]["shadow_step_us"] = shadow_step(url)
    return runs


def shadow_step(url: str) -> float:
    """The mean time the server spent scoring a JSON request with the shadow, in µs, from /metrics."""
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
        for sample in family.samples
        if sample.name.startswith("driftloop_shadow_duration_seconds")
        and sample.labels.get("format") == "json"
    }
    count = values["driftloop_shadow_duration_seconds_count"]
    return values["driftloop_shadow_duration_seconds_sum"] / count * 1e6 if count else float("nan")


def shadow_summary(results: dict[str, Any]) -> list[str]:
    """What the shadow added: medians over the rounds of p50 and p99, off and on, and their ratio; and the
    in-process numbers."""
    out = []
    for paced in (False, True):
        runs = [run for run in results["shadow"] if ("paced" in run["what"]) == paced]
        if not runs:
            continue
        by = {
            shadow: {
                key: float(np.median([run[key] for run in runs if run["shadow"] == shadow]))
                for key in ("p50_ms", "p99_ms", "requests_per_second", "server_cpu_ms_per_request")
            }
            for shadow in (False, True)
        }
        off, on = by[False], by[True]
        kind = "8 connections paced" if paced else "1 connection"
        steps_us = [run["shadow_step_us"] for run in runs if "shadow_step_us" in run]
        out.append(
            f"shadow, single records at {kind} (medians of {len(runs) // 2} round(s)): "
            f"p50 {off['p50_ms']:.2f} -> {on['p50_ms']:.2f} ms (x{on['p50_ms'] / off['p50_ms']:.2f}), "
            f"p99 {off['p99_ms']:.2f} -> {on['p99_ms']:.2f} ms (x{on['p99_ms'] / off['p99_ms']:.2f}), "
            f"server CPU {off['server_cpu_ms_per_request']:.3f} -> {on['server_cpu_ms_per_request']:.3f} ms "
            f"a request, {off['requests_per_second']:,.0f} -> {on['requests_per_second']:,.0f} requests/s"
            + (
                f"; the shadow's step in the server {np.median(steps_us):.0f} µs a request"
                if steps_us
                else ""
            )
        )
    steps = {row["what"]: row for row in results.get("shadow_in_process", [])}
    off = [row for row in results.get("shadow_in_process", []) if row["what"].endswith("shadow off")]
    on = [row for row in results.get("shadow_in_process", []) if row["what"].endswith("shadow on")]
    if off and on:
        p50_off = float(np.median([row["p50_ms"] for row in off]))
        p50_on = float(np.median([row["p50_ms"] for row in on]))
        alone = [
            f"{what.removeprefix('shadow step, ')} {row['p50_ms'] * 1000:.0f} µs"
            for what, row in steps.items()
            if what.startswith("shadow step")
        ]
        out.append(
            f"shadow in process, one record through predict: p50 {p50_off * 1000:.0f} -> "
            f"{p50_on * 1000:.0f} µs (+{(p50_on - p50_off) * 1000:.0f} µs); the step alone (p50): "
            + ", ".join(alone)
        )
    return out


def load_runs(
    name: str,
    url: str,
    server: int,
    bodies: list[bytes],
    batch: bytes | None,
    seconds: float,
    folder: Path,
    arrow: dict[int, list[bytes]] | None = None,
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
                "rows_per_request": POOL,
                "rows_per_second": run["requests_per_second"] * POOL,
            }
        )
    for rows, bodies_of_rows in (arrow or {}).items():
        runs.append(arrow_run(name, url, server, bodies_of_rows, rows, seconds, folder, 4))
    return runs


def arrow_run(
    name: str,
    url: str,
    server: int,
    arrow: list[bytes],
    rows: int,
    seconds: float,
    folder: Path,
    connections: int,
) -> dict[str, Any]:
    """The Arrow bodies of `rows` rows in turn over `connections` busy connections, answered in Arrow."""
    run = run_wrk(url, arrow_script(arrow, folder), connections, seconds, server)
    return {
        "what": f"{name}, {rows:,} rows a request in Arrow (Arrow answer)",
        **run,
        "rows_per_request": rows,
        "rows_per_second": run["requests_per_second"] * rows,
    }


def one_worker_arrow(
    command: list[str],
    port: int,
    env: dict[str, str],
    arrow: dict[int, list[bytes]],
    seconds: float,
    folder: Path,
) -> list:
    """The Arrow lines on a server of one worker: one core against the booster's one thread. Two connections:
    one request waits while the other is answered, so the worker never idles between them."""
    url = f"http://127.0.0.1:{port}"
    serve = [*command[: command.index("--workers")], "--workers", "1", "--port", str(port)]
    runs = []
    with running(serve, f"{url}/health", env, folder / "serve-one-worker.log") as server:
        for rows, bodies in arrow.items():
            run_wrk(url, arrow_script(bodies, folder), 2, max(2.0, seconds / 3), server.pid)  # warm-up
            runs.append(
                arrow_run("driftloop serve, 1 worker(s)", url, server.pid, bodies, rows, seconds, folder, 2)
            )
    return runs


def big_floor(registry: Registry, enriched: pd.DataFrame) -> list:
    """The booster's floor on the larger Arrow requests' rows: the same model, one and two threads."""
    model = registry.load(registry.require_champion().version)
    matrix = FeatureEncoder(model.spec).matrix(enriched)
    return [
        timed(
            lambda _, t=threads: model.booster.predict(matrix, num_threads=t),
            30,
            len(matrix),
            f"raw Booster.predict, {len(matrix):,} rows, {threads} thread(s)",
        )
        for threads in (1, 2)
    ]


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
    for run in results["driftloop"] + results.get("shadow", []) + results["naive"]:
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
    for row in results.get("shadow_in_process", []):
        lines.append(
            f"| {row['what']} | {row['calls_per_second']:,.0f} | {row['rows_per_second']:,.0f} | "
            f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} |"
        )
    lines += ["", *(f"- {line}" for line in ratios(results) + shadow_summary(results))]
    return "\n".join(lines)


def ratios(results: dict[str, Any]) -> list[str]:
    """The batch lines against the bare booster on the same rows, one thread (the target: 2x)."""
    floors = {
        row["what"]: row["rows_per_second"] for row in results["in_process"] if row["what"].startswith("raw")
    }
    out = []
    for run in results["driftloop"]:
        rows = run.get("rows_per_request")
        floor = floors.get(f"raw Booster.predict, {rows:,} rows, 1 thread(s)") if rows else None
        if floor is not None:  # --shadow-only: no floor measured
            slower = floor / run["rows_per_second"]
            cores = run["requests_per_second"] * run["server_cpu_ms_per_request"] / 1000
            per_row = run["server_cpu_ms_per_request"] / rows * 1000
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
    parser.add_argument(
        "--shadow-rounds",
        type=int,
        default=2,
        help="rounds of the shadow comparison (a server without the shadow, then one with it); 0: none",
    )
    parser.add_argument(
        "--shadow-only",
        action="store_true",
        help="only the shadow comparison (and its in-process lines): no other load run, no naive handler",
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
        shadow = register_shadow(registry, version)
        print(
            f"shadow v{shadow.version}: a copy of v{version.version}'s trees, registered after it", flush=True
        )
        records, enriched = request_pool()
        big_records, big_enriched = request_pool(BIG, seed=5)
        arrow = {POOL: arrow_bodies(records, load_contract(CONTRACT))}
        arrow[BIG] = arrow_bodies(big_records, load_contract(CONTRACT))
        results: dict[str, Any] = {
            "in_process": []
            if args.shadow_only
            else in_process(registry, folder / "store", CONTRACT, records, enriched)
            + big_floor(registry, big_enriched)
            + arrow_in_process(folder / "store", arrow[POOL][0]),
            "shadow_in_process": shadow_in_process(folder / "store", records),
        }
        port = 18700 + os.getpid() % 200
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "deployments.cli",
            "serve",
            "--store",
            str(folder / "store"),
            "--contract",
            str(CONTRACT),
            "--workers",
            str(args.workers),
        ]
        serve = [*command, "--port", str(port)]
        bodies = [json.dumps({"records": [record]}).encode() for record in records]
        batch = json.dumps({"records": records}).encode()
        results["driftloop"] = []
        if not args.shadow_only:
            with running(serve, f"{url}/health", env, folder / "serve.log") as server:
                name = f"driftloop serve, {args.workers} worker(s)"
                results["driftloop"] = load_runs(
                    name, url, server.pid, bodies, batch, args.seconds, folder, arrow
                )
            if args.workers != 1:
                results["driftloop"] += one_worker_arrow(command, port + 2, env, arrow, args.seconds, folder)
        results["shadow"] = shadow_runs(command, port + 1, env, bodies, args, folder)
        results["naive"] = (
            []
            if args.skip_naive or args.shadow_only
            else naive_runs(
                registry, version, train, enriched, args.workers, args.seconds, env, folder, port + 100
            )
        )
    results["machine"] = {"cpus": os.cpu_count(), "load_after": os.getloadavg()}
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
