"""Metrics on tiny hand-checked examples, and the direction of `is_better`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftloop.modelling.metrics import (
    METRIC_BLOCK_ROWS,
    Metrics,
    calibration_table,
    is_better,
    score_predictions,
)


def test_perfect_ranking_has_auc_one_and_reversed_ranking_zero() -> None:
    y = np.array([0, 0, 1, 1])

    assert score_predictions(y, np.array([0.1, 0.2, 0.8, 0.9])).auc == 1.0
    assert score_predictions(y, np.array([0.9, 0.8, 0.2, 0.1])).auc == 0.0


def test_auc_counts_ties_as_half() -> None:
    # pairs (pos, neg): (0.6,0.3)=1, (0.6,0.6)=0.5, (0.4,0.3)=1, (0.4,0.6)=0 -> 2.5/4
    assert score_predictions(np.array([0, 0, 1, 1]), np.array([0.3, 0.6, 0.6, 0.4])).auc == 0.625


def test_constant_prediction_has_auc_one_half() -> None:
    assert score_predictions(np.array([0, 1, 0, 1, 1]), np.full(5, 0.3)).auc == 0.5


def test_auc_is_nan_with_one_class_but_the_other_metrics_are_not() -> None:
    metrics = score_predictions(np.array([1, 1, 1]), np.array([0.9, 0.5, 0.8]))

    assert math.isnan(metrics.auc)
    assert metrics.positive_rate == 1.0
    assert metrics.brier == pytest.approx((0.01 + 0.25 + 0.04) / 3)
    assert metrics.log_loss == pytest.approx(-(math.log(0.9) + math.log(0.5) + math.log(0.8)) / 3)


def test_brier_and_log_loss_hand_computed() -> None:
    metrics = score_predictions(np.array([1, 0]), np.array([0.8, 0.4]))

    assert metrics.rows == 2
    assert metrics.positive_rate == 0.5
    assert metrics.brier == pytest.approx((0.2**2 + 0.4**2) / 2)  # 0.1
    assert metrics.brier == pytest.approx(0.1)
    assert metrics.log_loss == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_log_loss_is_finite_for_certain_wrong_predictions() -> None:
    metrics = score_predictions(np.array([1, 0]), np.array([0.0, 1.0]))

    assert math.isfinite(metrics.log_loss)
    assert metrics.log_loss > 30  # clipped at 1e-15: -ln(1e-15) = 34.5
    assert metrics.brier == pytest.approx(1.0)


def test_ece_of_perfectly_calibrated_bins_is_zero() -> None:
    # bin [0.2,0.3): 4 rows predicted 0.25, one positive; bin [0.7,0.8): 4 rows at 0.75, three positive
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)

    metrics = score_predictions(y, p)

    assert metrics.ece == pytest.approx(0.0, abs=1e-12)
    assert [(b.lower, b.rows, b.observed_rate) for b in metrics.calibration] == [
        (pytest.approx(0.2), 4, 0.25),
        (pytest.approx(0.7), 4, 0.75),
    ]


def test_ece_is_the_row_weighted_gap() -> None:
    # 2 rows at 0.9 with no positive (gap 0.9) + 2 rows at 0.1 with no positive (gap 0.1) -> (2*0.9 + 2*0.1)/4
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.9, 0.9, 0.1, 0.1, 0.55, 0.55])

    metrics = score_predictions(y, p)

    # third bin: 2 rows at 0.55, both positive: gap 0.45
    assert metrics.ece == pytest.approx((2 * 0.9 + 2 * 0.1 + 2 * 0.45) / 6)


def test_calibration_table_bins_and_edges() -> None:
    table = calibration_table(np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.1, 0.95, 1.0]), bins=10)

    assert [(b.lower, b.upper, b.rows) for b in table] == [
        (0.0, pytest.approx(0.1), 1),
        (pytest.approx(0.1), pytest.approx(0.2), 1),  # 0.1 belongs to [0.1, 0.2)
        (pytest.approx(0.9), 1.0, 2),  # 1.0 is in the last bin, not past it
    ]
    assert table[2].mean_predicted == pytest.approx(0.975)
    assert table[2].observed_rate == 0.5


def test_score_predictions_refuses_missing_labels_and_empty_input() -> None:
    with pytest.raises(ValueError, match="no missing labels"):
        score_predictions(np.array([1.0, np.nan]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="at least one row"):
        score_predictions(np.array([]), np.array([]))


def test_metrics_dict_round_trip() -> None:
    metrics = score_predictions(np.array([1, 0, 1, 0]), np.array([0.8, 0.3, 0.6, 0.55]))

    again = Metrics.from_json(metrics.to_json())

    assert again == metrics
    assert again.headline().model_dump() == {
        "auc": 1.0,
        "log_loss": metrics.log_loss,
        "brier": metrics.brier,
        "ece": metrics.ece,
    }
    assert (again.value("auc"), again.value("brier")) == (1.0, metrics.brier)


@pytest.mark.parametrize(
    ("metric", "candidate", "incumbent", "margin", "expected"),
    [
        ("auc", 0.75, 0.70, 0.02, True),
        ("auc", 0.71, 0.70, 0.02, False),  # better, but by less than the margin
        ("auc", 0.65, 0.70, 0.0, False),
        ("auc", 0.75, 0.50, 0.25, True),  # exactly the margin counts
        ("log_loss", 0.40, 0.45, 0.02, True),  # lower is better
        ("log_loss", 0.50, 0.45, 0.02, False),  # higher log loss is worse even by a lot
        ("log_loss", 0.44, 0.45, 0.02, False),
        ("log_loss", 0.25, 0.50, 0.25, True),
        ("brier", 0.20, 0.25, 0.01, True),
        ("brier", 0.30, 0.25, 0.01, False),
        ("ece", 0.01, 0.05, 0.0, True),
    ],
)
def test_is_better_respects_direction_and_margin(
    metric: str, candidate: float, incumbent: float, margin: float, expected: bool
) -> None:
    assert is_better(metric, candidate, incumbent, margin) is expected


def test_is_better_with_nan() -> None:
    assert is_better("auc", math.nan, 0.7, 0.0) is False
    assert is_better("auc", 0.7, math.nan, 0.0) is True
    assert is_better("log_loss", 0.7, math.nan, 0.0) is True


def test_is_better_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        is_better("accuracy", 0.9, 0.8, 0.0)


@pytest.mark.parametrize("rows", [1, 5_000, METRIC_BLOCK_ROWS + 1, 3 * METRIC_BLOCK_ROWS + 17])
def test_log_loss_and_brier_taken_a_block_at_a_time_are_scikit_learns_to_the_bit(rows: int) -> None:
    """Stored metrics must not change with the way they are computed: the registry's bytes depend on them."""
    from sklearn.metrics import brier_score_loss, log_loss

    rng = np.random.default_rng(rows)
    y = (rng.random(rows) < 0.2).astype(float)
    p = np.where(rng.random(rows) < 0.01, rng.integers(0, 2, rows), rng.beta(0.5, 3, rows))  # some 0 and 1
    clipped = np.clip(p, 1e-15, 1 - 1e-15)

    metrics = score_predictions(y, p)

    assert metrics.log_loss == log_loss(y, clipped, labels=[0, 1])
    assert metrics.brier == brier_score_loss(y, clipped)
