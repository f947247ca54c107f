"""Holdout AUC interval, AUC estimated without labels, and the floor a period must stay above."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from driftloop.modelling.metrics import weighted_auc
from driftloop.modelling.performance import estimate_auc, fit_holdout_performance


def _calibrated(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores that are their own probabilities (rounded, so ties occur), and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(2, 5, rows), 3)
    return (rng.random(rows) < p).astype(float), p


def test_weighted_auc_equals_sklearn_with_ties_and_any_weighting() -> None:
    y, p = _calibrated(5000, 1)
    assert float(weighted_auc(p, y, 1 - y)) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    w = np.random.default_rng(2).integers(0, 3, len(y)).astype(float)
    assert float(weighted_auc(p, w * y, w * (1 - y))) == pytest.approx(
        roc_auc_score(y, p, sample_weight=w), abs=1e-12
    )


def test_the_estimate_matches_the_realized_auc_when_the_model_is_calibrated() -> None:
    y_hold, p_hold = _calibrated(20000, 3)
    baseline = fit_holdout_performance(y_hold, p_hold, bootstrap=100, seed=0)
    y, p = _calibrated(20000, 4)

    estimate = estimate_auc(p, baseline.calibration, draws=200, seed=0)

    realized = roc_auc_score(y, p)
    assert estimate.low < realized < estimate.high
    assert abs(estimate.expected - realized) < 0.01
    assert baseline.auc_low < baseline.holdout_auc < baseline.auc_high


def test_the_floor_widens_for_a_smaller_period() -> None:
    y, p = _calibrated(20000, 5)
    baseline = fit_holdout_performance(y, p, bootstrap=100, seed=0)
    half = baseline.holdout_auc - baseline.auc_low

    assert baseline.floor(20000) == pytest.approx(baseline.holdout_auc - half * np.sqrt(2), abs=1e-6)
    assert baseline.floor(2000) < baseline.floor(20000) < baseline.auc_low


def test_the_bootstrap_draws_the_same_resamples_however_many_it_holds_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Drawn a few resamples at a time so that memory stays flat: the interval must not depend on how many."""
    from driftloop.modelling import performance

    rng = np.random.default_rng(5)
    y = (rng.random(3_000) < 0.3).astype(float)
    p = np.clip(0.3 * y + rng.random(3_000) * 0.7, 0, 1)
    at_once = performance._bootstrap_aucs(p, y, bootstrap=40, seed=2)
    monkeypatch.setattr(performance, "_BOOTSTRAP_CELLS", 3 * 3_000)  # three at a time, the last alone

    assert np.array_equal(performance._bootstrap_aucs(p, y, bootstrap=40, seed=2), at_once)
    assert len(set(at_once.tolist())) > 30  # forty different resamples, not one repeated
