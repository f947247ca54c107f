"""Benchmark driftloop's steps against the bare library calls that do the same work.

Run: `.venv/bin/python scripts/benchmark.py` (about a minute). It prints wall times (best of N) and
the ratio driftloop / bare, so overhead from our wrapping is visible as a number, not an adjective.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
from driftloop.data import enrich, labels, load_reference_tables, load_source_table, local_times, month_of

from driftloop.contract import load_contract
from driftloop.features import build_features, fit_feature_spec
from driftloop.settings import TrainingSettings
from driftloop.training import time_ordered_folds, train_model
from driftloop.validation import validate_batch

REPO = Path(__file__).resolve().parents[1]


def best_of(repeats: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    contract = load_contract(REPO / "data_contracts" / "flights.yaml")
    table = load_source_table(contract)
    tables = load_reference_tables(contract)
    months = month_of(table, contract)
    window = table.loc[months.isin(["2013-01", "2013-02", "2013-03"])].reset_index(drop=True)
    frame = enrich(window, contract, tables)
    label = labels(frame, contract)
    frame, label = (
        frame.loc[label.notna()].reset_index(drop=True),
        label[label.notna()].reset_index(drop=True),
    )
    times = local_times(frame, contract.time.column, contract.time.timezone)
    spec = fit_feature_spec(frame, contract)
    settings = TrainingSettings()
    features = build_features(frame, spec)
    y = label.to_numpy()
    params = settings.lightgbm_params()
    print(f"window Jan-Mar 2013: {len(frame):,} labelled rows x {len(spec.names)} features, 2 threads\n")

    rows: list[tuple[str, float, float]] = []

    trained = train_model(frame, label, times, spec, settings)

    def bare_training() -> None:
        # the same work with plain LightGBM: the folds with early stopping, then the final fit
        for train_idx, valid_idx in time_ordered_folds(times, settings.cv_folds):
            lgb.train(
                params,
                lgb.Dataset(features.iloc[train_idx], y[train_idx], categorical_feature=spec.categorical),
                num_boost_round=settings.max_rounds,
                valid_sets=[
                    lgb.Dataset(features.iloc[valid_idx], y[valid_idx], categorical_feature=spec.categorical)
                ],
                callbacks=[
                    lgb.early_stopping(settings.early_stopping_rounds, first_metric_only=True, verbose=False)
                ],
            )
        lgb.train(params, lgb.Dataset(features, y, categorical_feature=spec.categorical), trained.num_rounds)

    rows.append(
        (
            "train (CV + final fit)",
            best_of(2, lambda: train_model(frame, label, times, spec, settings)),
            best_of(2, bare_training),
        )
    )

    booster = trained.booster()
    april = enrich(table.loc[months == "2013-04"].reset_index(drop=True), contract, tables)
    april_matrix = build_features(april, spec)
    rows.append(
        (
            "score a month (features + predict)",
            best_of(5, lambda: booster.predict(build_features(april, spec))),
            best_of(5, lambda: booster.predict(april_matrix)),
        )
    )
    rows.append(("feature function alone (a month)", best_of(5, lambda: build_features(april, spec)), np.nan))
    raw_april = table.loc[months == "2013-04"].reset_index(drop=True)
    validate_batch(raw_april, contract)  # warm-up: import GX, build its context
    rows.append(
        ("gate a month (76 GX expectations)", best_of(3, lambda: validate_batch(raw_april, contract)), np.nan)
    )
    rows.append(
        ("gate the full year (336,776 rows)", best_of(2, lambda: validate_batch(table, contract)), np.nan)
    )

    print(f"{'step':<38} {'driftloop s':>12} {'bare s':>8} {'ratio':>6}")
    for name, ours, bare in rows:
        ratio = ours / bare if bare == bare else float("nan")
        bare_text = f"{bare:8.3f}" if bare == bare else f"{'-':>8}"
        ratio_text = f"{ratio:6.2f}" if ratio == ratio else f"{'-':>6}"
        print(f"{name:<38} {ours:12.3f} {bare_text} {ratio_text}")


if __name__ == "__main__":
    main()
