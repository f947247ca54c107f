"""Classification metrics for probabilities: discrimination (AUC), fit (log loss, Brier), calibration.

`weighted_auc` is driftloop's one AUC: the metrics of a model, the bootstrap of its holdout AUC, the AUC
estimated from calibrated probabilities and the leakage guard's single-feature AUC all count it the same
way (ties half).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from driftloop.core.records import Record

HIGHER_IS_BETTER = {"auc": True, "log_loss": False, "brier": False, "ece": False}


class CalibrationBin(Record):
    lower: float
    upper: float
    rows: int
    mean_predicted: float
    observed_rate: float


class Headline(Record):
    """The scalar metrics of one set of predictions, for tables, comparisons and promotion evidence."""

    auc: float
    log_loss: float
    brier: float
    ece: float


class Metrics(Record):
    """Scores of one set of predictions against labels."""

    rows: int
    positive_rate: float
    auc: float
    log_loss: float
    brier: float
    ece: float  # expected calibration error: row-weighted |observed - predicted| over bins
    calibration: tuple[CalibrationBin, ...] = ()

    def headline(self) -> Headline:
        """The scalar metrics, for tables and comparisons."""
        return Headline(auc=self.auc, log_loss=self.log_loss, brier=self.brier, ece=self.ece)

    def value(self, metric: str) -> float:
        """One scalar metric by name (`auc`, `log_loss`, `brier`, `ece`)."""
        if metric not in HIGHER_IS_BETTER:
            raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(HIGHER_IS_BETTER)}")
        return float(getattr(self, metric))


def weighted_auc(
    score: np.ndarray, positive: np.ndarray, negative: np.ndarray, order: np.ndarray | None = None
) -> np.ndarray:
    """AUC of one score vector under many weightings of its rows, ties counted half, in one pass.

    With 0/1 labels `y` as the weights (`positive=y`, `negative=1 - y`) it is the usual AUC.

    Args:
        score: the model's score per row.
        positive: weights of each row as a positive, shape (rows,) or (draws, rows).
        negative: weights of each row as a negative, same shape.
        order: `np.argsort(score, kind="stable")`, when the caller has it (a bootstrap calls this many
            times on one score).

    Returns:
        One AUC per weighting (a 0-d array for 1-d weights); NaN where a weighting has no pair.
    """
    order = np.argsort(score, kind="stable") if order is None else order
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    pos = np.add.reduceat(np.take(positive, order, axis=-1), starts, axis=-1)
    neg = np.add.reduceat(np.take(negative, order, axis=-1), starts, axis=-1)
    below = np.cumsum(neg, axis=-1) - neg
    pairs = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=-1) / pairs


def metric_rows(named: list[tuple[str, Metrics]]) -> list[dict[str, object]]:
    """The one metrics table: a row per named set of predictions (CV folds, holdout, champion, naive)."""
    return [
        {
            "set": name,
            "rows": metrics.rows,
            "positive rate": round(metrics.positive_rate, 4),
            "AUC": round(metrics.auc, 4),
            "log loss": round(metrics.log_loss, 4),
            "Brier": round(metrics.brier, 4),
            "ECE": round(metrics.ece, 4),
        }
        for name, metrics in named
    ]


def calibration_table(y_true: np.ndarray, y_prob: np.ndarray, bins: int) -> tuple[CalibrationBin, ...]:
    """Equal-width probability bins with the observed rate in each (empty bins left out)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(y_prob, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            table.append(
                CalibrationBin(
                    lower=float(edges[b]),
                    upper=float(edges[b + 1]),
                    rows=int(mask.sum()),
                    mean_predicted=float(y_prob[mask].mean()),
                    observed_rate=float(y_true[mask].mean()),
                )
            )
    return tuple(table)


METRIC_BLOCK_ROWS = 1 << 17  # rows whose (rows, 2) one-hot labels and probabilities exist at a time


def _one_hot(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities as scikit-learn's `log_loss` and `brier_score_loss` stack them."""
    return np.column_stack([1.0 - y_true, y_true]), np.column_stack([1.0 - y_prob, y_prob])


def _log_loss_rows(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    labels, probabilities = _one_hot(y_true, y_prob)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = labels * np.log(probabilities)
    return -np.where(labels == 0.0, 0.0, terms).sum(axis=1)


def _squared_error_rows(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    labels, probabilities = _one_hot(y_true, y_prob)
    return ((labels - probabilities) ** 2).sum(axis=1)


def _mean_by_block(
    y_true: np.ndarray, y_prob: np.ndarray, per_row: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> float:
    """The mean of a per-row loss, its rows computed a block at a time as scikit-learn computes them: the
    same number to the bit as `log_loss` or `brier_score_loss` (before its halving), without their
    (rows, 2) temporaries of the whole set, which were the peak of a training's memory."""
    values = np.empty(len(y_true))
    for start in range(0, len(y_true), METRIC_BLOCK_ROWS):
        stop = start + METRIC_BLOCK_ROWS
        values[start:stop] = per_row(y_true[start:stop], y_prob[start:stop])
    return float(np.mean(values))


def score_predictions(y_true: np.ndarray, y_prob: np.ndarray, calibration_bins: int = 10) -> Metrics:
    """All metrics for binary labels and predicted probabilities.

    Args:
        y_true: 0/1 labels (no NaN: drop unlabelled rows first).
        y_prob: predicted probability of the positive class.
        calibration_bins: number of equal-width bins for the calibration table and ECE.

    Returns:
        Metrics; AUC is NaN when only one class is present.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.clip(np.asarray(y_prob, dtype=float), 1e-15, 1 - 1e-15)
    if len(y_true) == 0 or np.isnan(y_true).any():
        raise ValueError("score_predictions needs at least one row and no missing labels")
    both_classes = 0 < y_true.sum() < len(y_true)
    table = calibration_table(y_true, y_prob, calibration_bins)
    ece = sum(b.rows * abs(b.observed_rate - b.mean_predicted) for b in table) / len(y_true)
    return Metrics(
        rows=len(y_true),
        positive_rate=float(y_true.mean()),
        auc=float(weighted_auc(y_prob, y_true, 1.0 - y_true)) if both_classes else float("nan"),
        log_loss=_mean_by_block(y_true, y_prob, _log_loss_rows),
        brier=0.5 * _mean_by_block(y_true, y_prob, _squared_error_rows),
        ece=float(ece),
        calibration=table,
    )


def is_better(metric: str, candidate: float, incumbent: float, margin: float) -> bool:
    """Whether `candidate` beats `incumbent` on `metric` by at least `margin`, respecting its direction."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(HIGHER_IS_BETTER)}")
    if np.isnan(candidate):
        return False
    if np.isnan(incumbent):
        return True
    tolerance = 1e-12  # 0.1 + 0.2 > 0.3 in floating point: a win by exactly the margin still counts
    if HIGHER_IS_BETTER[metric]:
        return candidate >= incumbent + margin - tolerance
    return candidate <= incumbent - margin + tolerance
