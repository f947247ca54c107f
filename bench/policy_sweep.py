"""The trade-off behind the default policy: alarms against the live champion's mean AUC, on flights.

    .venv/bin/python bench/policy_sweep.py

Replays April-December 2013 (after training on January-March) under every combination of triggers
(drift, performance, both), drift-index threshold and cooldown, sharing trainings across them (a window
is trained once), and prints one Markdown row per combination, plus "every period" as the reference.
docs/monitoring.md shows the table and the default picked from it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from driftloop.core.contract import load_contract
from driftloop.core.settings import DriftSettings, PromotionSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import ingest_period, read_batch
from driftloop.data.sources import SourceTables
from driftloop.data.windows import resolve_windows
from driftloop.lifecycle.policy import RetrainPolicy
from driftloop.lifecycle.scoring import enrich_batch
from driftloop.replay.backtest.engine import Backtest, _Memo

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = [0.8, 1.0, 1.2]
TRIGGERS = [("drift",), ("performance",), ("drift", "performance")]
SCHEDULES = [(0, None), (2, None), (0, 3), (0, 4)]  # (cooldown, max age)


def main() -> None:
    started = time.perf_counter()
    contract = load_contract(REPO / "data_contracts" / "flights.yaml")
    sources = SourceTables(contract)
    periods = [f"2013-{month:02d}" for month in range(1, 13)]
    training = TrainingSettings()
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalStorage(folder)
        batches = {}
        for period in periods:
            version = ingest_period(storage, contract, sources.read_period(period), period)
            batches[period] = enrich_batch(
                version, read_batch(storage, version), contract, sources.references()
            )
        shared = _Memo()
        print("| triggers | index | cooldown | max age | alarms | retrains | promotions | mean AUC | worst |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        reference = None
        for threshold in THRESHOLDS:
            drift = DriftSettings(drift_index_threshold=threshold)
            # trainings and scorings are shared; verdicts depend on the threshold, so each gets its own
            memo = dataclasses.replace(_Memo(), candidates=shared.candidates, scored=shared.scored)
            backtest = Backtest(
                storage=storage, contract=contract, batches=batches, plan=resolve_windows(contract, training),
                training=training, drift=drift, promotion=PromotionSettings(), memo=memo,
            )  # fmt: skip
            if reference is None:
                reference = backtest.run(RetrainPolicy(name="every", triggers=("every-period",)), periods[:3],
                                         periods[3:], False)  # fmt: skip
            for triggers in TRIGGERS:
                for cooldown, age in SCHEDULES:
                    run = backtest.run(
                        RetrainPolicy(
                            name="sweep", triggers=triggers, cooldown_periods=cooldown, max_age_periods=age
                        ),
                        periods[:3],
                        periods[3:],
                        False,
                    )
                    print(
                        f"| {' + '.join(triggers)} | {threshold:g} | {cooldown} | {age or '-'} | "
                        f"{run.alarms} | {run.retrains} | {run.promotions} | {run.mean_auc:.4f} | "
                        f"{run.worst_auc:.4f} |",
                        flush=True,
                    )
        assert reference is not None
        print(
            f"| every period | - | - | - | {reference.alarms} | {reference.retrains} | "
            f"{reference.promotions} | "
            f"{reference.mean_auc:.4f} | {reference.worst_auc:.4f} |"
        )
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
