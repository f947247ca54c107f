"""The scale curve: ingest, gate, train on a window, score and monitor one period, at sizes up to 100M rows,
each phase timed against the same work done with the libraries alone, in the same run.

    .venv/bin/python bench/scale.py --rows 1000000 10000000 30000000 100000000 --json FILE [--work DIR]
    .venv/bin/python bench/scale.py --tables FILE      # the Markdown tables of docs/benchmarks.md, again

For each size, `bench/scale_data.py` writes the source once (real flights resampled into monthly Parquet
files, read through a file-source contract: the path a user's own data takes). Up to 10M rows the history
is one year and a month grows with the size; beyond, a month keeps 10M / 12 rows and the history grows
(10M, 30M, 100M rows = 1, 3, 10 years), so the phases of one period meet the same period whatever the
history holds. The phases work at the end of the history: the training window is the three months before
the last one, and the last month is ingested, gated, scored and monitored (a last month left partial by
the 52-week years, fewer rows than the contract's minimum, is skipped: at 100M the period is 2022-11).

Each phase of each side runs in its own process (so its peak RSS is its own, read by `wait4`), after its
imports (timed apart: a process pays them whichever side it is):
- **driftloop**: the product's tasks (`tasks/`), in a flow per phase, against one Prefect server started for
  the whole run (as the stack's server would be), on a local store: ingest = `ingest_task` per period,
  gate = `gate_task` (reading each stored version once), train = `train_and_judge` (window, CV, final
  model, yardsticks, registration, evaluation), score = enrich + `score_task` (predictions stored),
  monitor = enrich + score + `monitor_task` (every detector, the HTML report).
- **bare**: the same work with pyarrow, pandas, Great Expectations, LightGBM, scikit-learn and Evidently
  called directly: the same pushed-down Parquet read, Parquet written and hashed, the same GX suite, the
  same joins, features, time-ordered CV and final fit, calibration chunks, bootstrap, isotonic calibration,
  pred_contrib, AUC estimate and Evidently report. No contract, registry, store or Prefect.

The JSON holds `{"runs": [{"rows", "driftloop_s", "bare_s", "peak_rss_mb", "data_mb", "phases": {...}}]}`:
`data_mb` is the whole source's in-memory Arrow size (summed from the files' metadata, never loaded), a
run's `peak_rss_mb` the largest of its driftloop phases, and each phase has both sides' seconds, peak RSS,
the process's RSS after imports (its fixed baseline), rows, and for training the window's Arrow size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PHASES = ("ingest", "gate", "train", "score", "monitor")
# What a phase process imports before its clock starts, on both sides: the libraries its work calls, and
# no others (a process that gates never loads LightGBM or Evidently, as a flow run of driftloop would not).
PHASE_LIBRARIES = {
    "ingest": ("pandas", "pyarrow.dataset"),
    "gate": ("pandas", "pyarrow.dataset", "great_expectations"),
    "train": ("pandas", "pyarrow.dataset", "lightgbm", "sklearn.isotonic", "evidently"),
    "score": ("pandas", "pyarrow.dataset", "lightgbm"),
    "monitor": ("pandas", "pyarrow.dataset", "lightgbm", "sklearn.isotonic", "evidently"),
}
SIDES = ("driftloop", "bare")
TIMEZONE = "America/New_York"


def _rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---- the parent: sizes, sources, one process per phase ------------------------------------------------
def _source(rows: int, work: Path) -> dict[str, Any]:
    """The source of `rows` rows, written once by `bench/scale_data.py` in its own process.

    Not in this one: a child's peak RSS as `wait4` reports it starts from its parent's RSS at the fork,
    so a parent that had held the generated rows would lift every phase's peak to its own.
    """
    out = work / f"source-{rows}"
    summary = out / "source.json"
    if summary.exists() and json.loads(summary.read_text())["rows"] == rows:
        return json.loads(summary.read_text())
    shutil.rmtree(out, ignore_errors=True)
    print(f"writing {rows:,} rows to {out}", file=sys.stderr, flush=True)
    script = Path(__file__).with_name("scale_data.py")
    subprocess.run([sys.executable, str(script), "--rows", str(rows), "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return json.loads(summary.read_text())


def _plan(contract_path: str) -> dict[str, Any]:
    """The periods the phases work on, and the source's Arrow size, from the files' metadata only."""
    import glob

    import pyarrow.parquet as pq

    from driftloop.core.contract import load_contract
    from driftloop.core.settings import TrainingSettings
    from driftloop.data.sources import SourceTables
    from driftloop.data.windows import resolve_windows, window_periods

    contract = load_contract(contract_path)
    periods = SourceTables(contract).periods()
    if _rows_in(contract, periods[-1]) < contract.rows.min:
        periods = periods[:-1]  # a last month the shifted years leave partial: not a period to work on
    plan = resolve_windows(contract, TrainingSettings())
    as_of, target = periods[-2], periods[-1]
    files = sorted(glob.glob(contract.source.path or ""))
    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    sample = pq.ParquetFile(files[-1]).read_row_group(0)  # Arrow bytes a row, from one row group
    per_row = sample.nbytes / sample.num_rows
    return {
        "window": window_periods(as_of, plan.train_periods, plan.kind),
        "as_of": as_of,
        "target": target,
        "periods": len(periods),
        "arrow_bytes_per_row": round(per_row, 1),
        "data_mb": round(rows * per_row / 2**20, 1),
    }


def _rows_in(contract: Any, period: str) -> int:
    """Rows of `period` in the source, counted from the files without loading them."""
    from driftloop.data.parquet_periods import ParquetPeriods

    source = ParquetPeriods.open(contract, contract.source.path)
    if source is None:
        raise SystemExit(f"{contract.source.path}: not Parquet files with a timestamp time column")
    return source.count(period)


def _phase(side: str, phase: str, job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one phase of one side in a fresh process; its own report plus its peak RSS."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--phase", side, phase, json.dumps(job)]
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{side} {phase} failed (exit {os.waitstatus_to_exitcode(status)}): {output[-2000:]}"
        )
    report = json.loads(output.strip().splitlines()[-1])
    report["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # kB on Linux
    report["process_s"] = round(time.perf_counter() - started, 2)
    return report


def _prefect_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """One Prefect server for every driftloop phase of the run, on loopback, SQLite in the work folder."""
    from deployments.stack.ports import free_port

    port = free_port()
    database = work / "prefect-server" / "prefect.db"
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect-server"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
    }
    (work / "prefect-server").mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise SystemExit("the Prefect server exited during start-up")
        time.sleep(0.5)
    return server, url


def _client_env(work: Path, url: str) -> dict[str, str]:
    """What every phase process runs with: the Prefect API at `url`, its own PREFECT_HOME."""
    return {
        **os.environ,
        "PREFECT_API_URL": url,
        "PREFECT_HOME": str(work / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "MPLBACKEND": "Agg",
    }


def run(
    sizes: list[int], work: Path, training: dict[str, str], out: Path | None, url: str | None = None
) -> dict[str, Any]:
    """Both sides, phase by phase, at each size; a Prefect server of its own unless `url` names one."""
    server = None
    if url is None:
        server, url = _prefect_server(work)
    env = {
        **_client_env(work, url),
        **{f"DRIFTLOOP_TRAIN_{name.upper()}": value for name, value in training.items()},
    }
    runs: list[dict[str, Any]] = []
    result = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "training": training,
        "prefect_api": url,
        "runs": runs,
    }
    try:
        for rows in sizes:
            source = _source(rows, work)
            plan = _plan(source["contract"])
            print(
                f"{rows:,} rows: {plan['periods']} months, window {plan['window'][0]}..{plan['window'][-1]}, "
                f"period {plan['target']}",
                file=sys.stderr,
                flush=True,
            )
            job = {"contract": source["contract"], **plan}
            phases: dict[str, dict[str, Any]] = {}
            for phase in PHASES:
                phases[phase] = {}
                for side in SIDES:
                    store = work / f"store-{rows}-{side}"
                    if phase == "ingest":
                        shutil.rmtree(store, ignore_errors=True)
                    report = _phase(side, phase, {**job, "store": str(store)}, env)
                    phases[phase][side] = report
                    print(
                        f"  {phase:8s} {side:10s} {report['seconds']:8.2f} s"
                        f"  peak {report['peak_rss_mb']:7.0f} MB"
                        f" (after imports {report['baseline_mb']:.0f} MB)",
                        file=sys.stderr,
                        flush=True,
                    )
            window_rows = phases["ingest"]["driftloop"]["rows"] - phases["score"]["driftloop"]["rows"]
            phases["train"]["window_arrow_mb"] = round(window_rows * plan["arrow_bytes_per_row"] / 2**20, 1)
            runs.append(
                {
                    "rows": source["rows"],
                    "months": source["months"],
                    "period_rows": phases["score"]["driftloop"]["rows"],
                    "driftloop_s": round(sum(p["driftloop"]["seconds"] for p in phases.values()), 2),
                    "bare_s": round(sum(p["bare"]["seconds"] for p in phases.values()), 2),
                    "peak_rss_mb": max(p["driftloop"]["peak_rss_mb"] for p in phases.values()),
                    "data_mb": plan["data_mb"],
                    "phases": phases,
                }
            )
            if out:  # after each size: a later size's failure keeps the sizes done
                out.write_text(json.dumps(result, indent=2))
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(30)
    return result


# ---- a phase process: driftloop --------------------------------------------------------------------------
def _driftloop_phase(phase: str, job: dict[str, Any]) -> dict[str, Any]:
    imports = time.perf_counter()
    from deployments.environment import prefect_environment  # imports no Prefect
    from driftloop.core.settings import Settings

    settings = Settings.load(store=job["store"], contract=job["contract"])
    prefect_environment(settings)  # before Prefect is imported: results (the cache) live in the store

    _import_libraries(phase)  # before the clock starts, as the bare side does
    from prefect import flow

    from driftloop.lifecycle.runtime import open_runtime
    from flows.phases import train_and_judge
    from tasks.gate import gate_task
    from tasks.ingest import ingest_task
    from tasks.monitor import monitor_task
    from tasks.score import enrich_task, score_task

    imports = time.perf_counter() - imports
    baseline = _rss_mb()
    window, target = job["window"], job["target"]

    @flow(name=f"scale-{phase}", persist_result=False)
    def run_phase() -> dict[str, Any]:
        in_flow = _rss_mb()  # what a flow run holds before it touches the data (its client, its engine)
        runtime = open_runtime(settings)
        rows = 0
        if phase == "ingest":
            for period in [*window, target]:
                rows += ingest_task(runtime, period).rows
        elif phase == "gate":
            for period in [*window, target]:
                rows += gate_task(runtime, ingest_task(runtime, period)).version.rows
        elif phase == "train":
            outcome = train_and_judge(runtime, job["as_of"], job["as_of"], champion=None)
            rows = runtime.registry.get(outcome.version).lineage.train_rows
        else:
            gate = gate_task(runtime, ingest_task(runtime, target))
            champion = runtime.registry.require_champion().version
            scored = score_task(runtime, enrich_task(runtime, gate), champion, store=phase == "score")
            rows = len(scored.prediction)
            if phase == "monitor":
                monitor_task(runtime, scored, labels_known=True)
        return {"rows": rows, "clock": runtime.clock.totals(), "flow_baseline_mb": round(in_flow, 1)}

    started = time.perf_counter()
    result = run_phase()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "imports_s": round(imports, 2),
        "baseline_mb": round(baseline, 1),
        **result,
    }


# ---- a phase process: the libraries alone ---------------------------------------------------------------
class Bare:
    """The work of each phase with the libraries called directly; what driftloop is measured against."""

    def __init__(self, job: dict[str, Any]) -> None:
        import glob

        from driftloop.core.contract import load_contract
        from driftloop.core.settings import DriftSettings, TrainingSettings
        from driftloop.data.windows import resolve_windows

        contract = load_contract(job["contract"])
        self.contract = contract
        self.job = job
        self.store = Path(job["store"])
        self.files = sorted(glob.glob(contract.source.path or ""))
        self.tables = contract.source.tables
        self.joins = contract.joins
        self.features = contract.feature_names
        self.categorical = [f.name for f in contract.features if f.kind == "categorical"]
        self.numeric = [f.name for f in contract.features if f.kind == "numeric"]
        self.training = TrainingSettings()
        self.params = self.training.lightgbm_params().for_lightgbm()
        self.drift = DriftSettings()
        plan = resolve_windows(contract, self.training)
        self.holdout_days = plan.holdout_days or 14

    def path(self, period: str) -> Path:
        return self.store / f"{period}.parquet"

    # ingest: the period's rows through a pushed-down filter, written as Parquet (zstd), hashed
    def ingest(self, period: str) -> int:
        import hashlib

        import pandas as pd
        import pyarrow as pa
        import pyarrow.dataset as ds

        year, month = (int(part) for part in period.split("-"))
        start = pd.Timestamp(year=year, month=month, day=1).tz_localize(TIMEZONE)
        end = (start.tz_localize(None) + pd.offsets.MonthBegin(1)).tz_localize(TIMEZONE)
        bounds = [pa.scalar(moment.tz_convert("UTC").to_pydatetime(), type=pa.timestamp("us", "UTC"))
                  for moment in (start, end)]  # fmt: skip
        field = ds.field("time_hour")
        frame = ds.dataset(self.files).to_table(filter=(field >= bounds[0]) & (field < bounds[1])).to_pandas()
        self.store.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(self.path(period), index=False, compression="zstd")
        digest = hashlib.sha256()
        with open(self.path(period), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return len(frame)

    # gate: the same GX suite on the stored batch, read once
    def gate(self, period: str) -> int:
        import pandas as pd

        from driftloop.data.validation import compile_suite
        from driftloop.data.validation.runner import ephemeral_batch_definition

        frame = pd.read_parquet(self.path(period))
        batch = ephemeral_batch_definition("bare").get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(compile_suite(self.contract), result_format={"result_format": "BASIC"})
        if not result.success:
            raise SystemExit(f"the bare gate failed {period}")
        return len(frame)

    def enrich(self, frame: Any) -> Any:
        import pandas as pd

        for join in self.joins:
            table = pd.read_parquet(self.tables[join.table], columns=[*join.using, *join.columns])
            table = table.drop_duplicates(join.using, keep="last").rename(columns=join.columns)
            frame = frame.merge(table, on=join.using, how="left")
        delay = frame["arr_delay"]
        frame["label"] = (delay > 15).astype(float).where(delay.notna())
        return frame

    def matrix(self, frame: Any, levels: dict[str, list[str]]) -> Any:
        import pandas as pd

        local = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_convert(TIMEZONE)
        out = {}
        for name in self.features:
            if name == "day_of_week":
                out[name] = pd.Categorical(
                    local.dt.dayofweek.astype(float).astype(int).astype(str), levels[name]
                )
            elif name in self.categorical:
                out[name] = pd.Categorical(frame[name].astype(str), categories=levels[name])
            else:
                out[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        return pd.DataFrame(out, index=frame.index)

    # train: window, time-ordered CV, the final fit, explanations, holdout, drift calibration, bootstrap
    def train(self) -> int:
        import lightgbm as lgb
        import numpy as np
        import pandas as pd
        from sklearn.isotonic import IsotonicRegression

        from driftloop.modelling.metrics import weighted_auc  # numpy only: the same AUC formula
        from driftloop.modelling.training import time_ordered_folds  # numpy only: the same split

        frames = [self.enrich(pd.read_parquet(self.path(period))) for period in self.job["window"]]
        window = pd.concat(frames, ignore_index=True)
        del frames
        window = window.loc[window["label"].notna().to_numpy()].reset_index(drop=True)
        local = pd.to_datetime(window["time_hour"], utc=True).dt.tz_convert(TIMEZONE)
        holdout = (local >= local.max().normalize() - pd.Timedelta(days=self.holdout_days - 1)).to_numpy()
        train = window.loc[~holdout]
        levels = {
            name: sorted(train[name].dropna().astype(str).unique())
            for name in self.categorical
            if name != "day_of_week"
        }
        levels["day_of_week"] = [str(day) for day in range(7)]
        x = self.matrix(train, levels).reset_index(drop=True)
        y = train["label"].to_numpy(dtype=float)
        times = local[~holdout].dt.tz_convert("UTC").dt.tz_localize(None).reset_index(drop=True)
        settings, rounds = self.training, []
        for fit, valid in time_ordered_folds(times, settings.cv_folds):
            booster = lgb.train(
                self.params,
                lgb.Dataset(x.iloc[fit], y[fit], categorical_feature=self.categorical, free_raw_data=False),
                num_boost_round=settings.max_rounds,
                valid_sets=[lgb.Dataset(x.iloc[valid], y[valid], categorical_feature=self.categorical)],
                callbacks=[
                    lgb.early_stopping(settings.early_stopping_rounds, first_metric_only=True, verbose=False)
                ],
            )
            rounds.append(int(booster.best_iteration or settings.max_rounds))
        final = lgb.train(
            self.params,
            lgb.Dataset(x, y, categorical_feature=self.categorical),
            num_boost_round=max(1, int(np.median(rounds))),
        )
        final.feature_importance(importance_type="gain")
        sample = np.sort(
            np.random.default_rng(settings.seed).choice(
                len(x), min(len(x), settings.explain_rows), replace=False
            )
        )
        final.predict(x.iloc[sample], pred_contrib=True)
        held = window.loc[holdout]
        holdout_prob = final.predict(self.matrix(held, levels))
        prediction = final.predict(x)
        self._calibrate(x, prediction, np.argsort(times.to_numpy(), kind="stable"))
        drift = self.drift
        weights = np.random.default_rng(drift.sample_seed).poisson(1.0, size=(drift.auc_bootstrap, len(held)))
        label = held["label"].to_numpy(dtype=float)
        weighted_auc(holdout_prob, weights * label, weights * (1 - label))
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(holdout_prob, label)
        reference = x.iloc[
            np.sort(
                np.random.default_rng(drift.sample_seed).choice(
                    len(x), min(len(x), drift.sample_rows), replace=False
                )
            )
        ]
        reference = reference.assign(prediction=final.predict(reference)).reset_index(drop=True)
        (self.store / "model.txt").write_text(final.model_to_string())
        (self.store / "levels.json").write_text(json.dumps(levels))
        (self.store / "calibration.json").write_text(
            json.dumps([iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()])
        )
        reference.to_parquet(self.store / "reference.parquet")
        return len(x)

    def _calibrate(self, x: Any, prediction: Any, order: Any) -> None:
        import numpy as np
        from evidently.legacy.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
        from evidently.legacy.core import ColumnType

        drift = self.drift
        for number, rows in enumerate(np.array_split(np.arange(len(order)), drift.calibration_chunks)):
            rest_rows = np.setdiff1d(np.arange(len(order)), rows, assume_unique=True)
            picked = []
            for part in (rows, rest_rows):
                n = min(len(part), drift.sample_rows)
                chosen = part[
                    np.sort(
                        np.random.default_rng(drift.sample_seed + number).choice(len(part), n, replace=False)
                    )
                ]
                picked.append(x.iloc[order[chosen]].assign(prediction=prediction[order[chosen]]))
            chunk, rest = picked
            for column in [*self.numeric, "prediction"]:
                ref, cur = rest[column].dropna().astype(float), chunk[column].dropna().astype(float)
                if len(ref) and len(cur):
                    wasserstein_stat_test(ref, cur, ColumnType.Numerical, 1.0)
            for column in self.categorical:
                ref, cur = rest[column].dropna().astype(object), chunk[column].dropna().astype(object)
                if len(ref) and len(cur):
                    jensenshannon_stat_test(ref, cur, ColumnType.Categorical, 1.0)

    def _model(self) -> tuple[Any, dict[str, list[str]]]:
        import lightgbm as lgb

        return lgb.Booster(model_file=str(self.store / "model.txt")), json.loads(
            (self.store / "levels.json").read_text()
        )

    # score: the period, joined, the model matrix, predictions written with the keys
    def score(self, store: bool = True) -> tuple[int, Any, Any, Any]:
        import pandas as pd

        booster, levels = self._model()
        frame = self.enrich(pd.read_parquet(self.path(self.job["target"])))
        x = self.matrix(frame, levels)
        prediction = booster.predict(x)
        if store:
            out = frame[self.contract.unique_key].assign(prediction=prediction)
            out.to_parquet(self.store / "predictions.parquet", index=False, compression="zstd")
        return len(frame), frame, x, prediction

    # monitor: breakage counts, pred_contrib on a sample, the AUC estimate, Evidently and its HTML report
    def monitor(self) -> int:
        import evidently
        import numpy as np
        import pandas as pd
        from evidently.metrics import ValueDrift

        from driftloop.modelling.metrics import weighted_auc

        rows, _, x, prediction = self.score(store=False)
        booster, _ = self._model()
        drift = self.drift
        for column in self.features:
            values = x[column]
            values.isna().mean()
            values.dropna().value_counts()
        sample = np.sort(
            np.random.default_rng(drift.sample_seed).choice(
                len(x), min(len(x), drift.attribution_rows), replace=False
            )
        )
        booster.predict(x.iloc[sample], pred_contrib=True)
        points, rates = json.loads((self.store / "calibration.json").read_text())
        rng = np.random.default_rng(drift.sample_seed)
        p = prediction[np.sort(rng.choice(len(prediction), min(len(prediction), 50_000), replace=False))]
        q = np.interp(p, points, rates)
        weighted_auc(p, q, 1 - q)
        drawn = (rng.random((drift.estimate_draws, len(p))) < q).astype(float)
        weighted_auc(p, drawn, 1 - drawn)
        picked = np.sort(
            np.random.default_rng(drift.sample_seed).choice(
                len(x), min(len(x), drift.sample_rows), replace=False
            )
        )
        current = x.iloc[picked].assign(prediction=prediction[picked])
        reference = pd.read_parquet(self.store / "reference.parquet")
        numeric = [*self.numeric, "prediction"]
        definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=self.categorical)
        metrics = [
            ValueDrift(
                column=c,
                method="wasserstein" if c in numeric else "jensenshannon",
                threshold=drift.column_threshold,
            )
            for c in [*numeric, *self.categorical]
        ]

        def prepared(data: Any) -> Any:
            return pd.DataFrame(
                {c: data[c].astype(float).to_numpy() for c in numeric}
                | {c: data[c].astype(object).to_numpy() for c in self.categorical}
            )

        snapshot = evidently.Report(metrics, include_tests=True).run(
            current_data=evidently.Dataset.from_pandas(prepared(current), definition),
            reference_data=evidently.Dataset.from_pandas(prepared(reference), definition),
        )
        snapshot.get_html_str(as_iframe=False)
        return rows


def _import_libraries(phase: str) -> None:
    import importlib

    for name in PHASE_LIBRARIES[phase]:
        importlib.import_module(name)


def _bare_phase(phase: str, job: dict[str, Any]) -> dict[str, Any]:
    imports = time.perf_counter()
    _import_libraries(phase)
    bare = Bare(job)
    imports = time.perf_counter() - imports
    baseline = _rss_mb()
    started = time.perf_counter()
    periods = [*job["window"], job["target"]]
    if phase == "ingest":
        rows = sum(bare.ingest(period) for period in periods)
    elif phase == "gate":
        rows = sum(bare.gate(period) for period in periods)
    elif phase == "train":
        rows = bare.train()
    elif phase == "score":
        rows = bare.score()[0]
    else:
        rows = bare.monitor()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "imports_s": round(imports, 2),
        "baseline_mb": round(baseline, 1),
        "rows": rows,
    }


# ---- the tables of docs/benchmarks.md, from the JSON ---------------------------------------------------
def _ratio(run: dict[str, Any]) -> str:
    return f"{run['driftloop']['seconds'] / run['bare']['seconds']:.2f}" if run["bare"]["seconds"] else "-"


def tables(result: dict[str, Any]) -> str:
    """Markdown: the sizes end to end, then each phase at each size (rows/s, s per 1M rows, peak RSS)."""
    runs = result["runs"]
    lines = [
        "| rows | months | rows a month | Arrow MB | driftloop s | bare s | **ratio** | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        ratio = run["driftloop_s"] / run["bare_s"]
        lines.append(
            f"| {run['rows']:,} | {run['months']} | {run['period_rows']:,} | {run['data_mb']:,.0f} | "
            f"{run['driftloop_s']:.1f} | {run['bare_s']:.1f} | **{ratio:.2f}** | {run['peak_rss_mb']:,.0f} |"
        )
    lines += [
        "",
        "| rows | phase | rows worked on | driftloop s | bare s | ratio | s per 1M rows | rows/s | "
        "peak RSS MB (driftloop / bare) | after imports MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        for name in PHASES:
            phase = run["phases"][name]
            mine, bare = phase["driftloop"], phase["bare"]
            per_million, per_second = mine["seconds"] / mine["rows"] * 1e6, mine["rows"] / mine["seconds"]
            lines.append(
                f"| {run['rows']:,} | {name} | {mine['rows']:,} | {mine['seconds']:.2f} | "
                f"{bare['seconds']:.2f} | {_ratio(phase)} | {per_million:.2f} | {per_second:,.0f} | "
                f"{mine['peak_rss_mb']:,.0f} / {bare['peak_rss_mb']:,.0f} | {mine['baseline_mb']:,.0f} |"
            )
    lines += [
        "",
        "| rows | window Arrow MB | training peak MB | after imports MB | at the flow's start MB | "
        "peak above the flow's start, × the window |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        train = run["phases"]["train"]
        mine, window = train["driftloop"], train.get("window_arrow_mb")
        start = mine.get("flow_baseline_mb")
        if window and start:
            peak = mine["peak_rss_mb"]
            lines.append(
                f"| {run['rows']:,} | {window:,.0f} | {peak:,.0f} | {mine['baseline_mb']:,.0f} | "
                f"{start:,.0f} | {(peak - start) / window:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--work", type=Path, help="sources, stores and the Prefect server's files (kept)")
    parser.add_argument(
        "--train", action="append", default=[], metavar="NAME=VALUE",
        help="a training setting for both sides, e.g. --train max_rounds=100 (DRIFTLOOP_TRAIN_<NAME>)",
    )  # fmt: skip
    parser.add_argument(
        "--prefect-api", metavar="URL", help="a running Prefect API, instead of one of its own"
    )
    parser.add_argument("--tables", type=Path, metavar="JSON", help="print the tables of a past run's JSON")
    parser.add_argument("--phase", nargs=3, metavar=("SIDE", "PHASE", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tables:
        print(tables(json.loads(args.tables.read_text())))
        return
    if args.phase:
        side, phase, job = args.phase
        report = (_driftloop_phase if side == "driftloop" else _bare_phase)(phase, json.loads(job))
        print(json.dumps(report))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="driftloop-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    training = dict(item.split("=", 1) for item in args.train)
    print(tables(run(sorted(args.rows), work, training, args.json, args.prefect_api)))


if __name__ == "__main__":
    main()
