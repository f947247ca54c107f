"""Score the monitor's alarms on the stream with known truth, per detector and per policy.

    .venv/bin/python bench/known_truth.py [--per-kind 10] [--rows 10000] [--seed 3]

The same stream as `tests/driftloop/replay/test_truth.py` (see `driftloop/replay/truth.py`): a model
trained on January-March 2013 with a random 30% holdout; each period is drawn from that holdout and then
left alone (stationary), or given harmless drift, covariate drift, concept drift or breakage. Prints the
Markdown table that docs/monitoring.md shows, and the mean realized AUC per kind (the harm each kind does).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from driftloop.core.contract import load_contract
from driftloop.core.settings import DriftSettings, PolicySettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import ingest_period
from driftloop.data.sources import SourceTables
from driftloop.data.windows import load_window, resolve_windows
from driftloop.lifecycle.challenger import build_candidate
from driftloop.lifecycle.policy import backtest_policies
from driftloop.replay.truth import KINDS, random_holdout_window, run_stream

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    contract = load_contract(REPO / "data_contracts" / "flights.yaml")
    sources = SourceTables(contract)
    training, drift = TrainingSettings(), DriftSettings()
    periods = ["2013-01", "2013-02", "2013-03"]
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalStorage(folder)
        versions = [ingest_period(storage, contract, sources.read_period(p), p) for p in periods]
        window = load_window(
            storage, contract, periods, versions, sources.references(), resolve_windows(contract, training)
        )
    window = random_holdout_window(window, share=0.3, seed=11)
    candidate = build_candidate(window, contract, training, drift)
    run = run_stream(
        window, candidate, contract, drift, backtest_policies(PolicySettings(), window_periods=3),
        per_kind=args.per_kind, rows=args.rows, seed=args.seed,
    )  # fmt: skip

    print(f"| detector or policy | detected (harmful) | false alarms (harmless) | {' | '.join(KINDS)} |")
    print("|---|---:|---:|" + "---:|" * len(KINDS))
    for rate in run.rates:
        kinds = " | ".join(f"{rate.by_kind[kind]:.0%}" for kind in KINDS)
        print(
            f"| {rate.name} | {rate.detected}/{rate.harmful} = {rate.detection_rate:.0%} | "
            f"{rate.false_alarms}/{rate.harmless} = {rate.false_alarm_rate:.0%} | {kinds} |"
        )
    print()
    print(f"holdout AUC of the model: {candidate.holdout.auc:.4f}")
    for kind in KINDS:
        aucs = [
            v.performance.realized for p, v in zip(run.periods, run.verdicts, strict=True) if p.kind == kind
        ]
        print(f"mean realized AUC, {kind}: {np.mean(aucs):.4f} (min {np.min(aucs):.4f})")
    print(f"{len(run.periods)} periods of {args.rows:,} rows in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
