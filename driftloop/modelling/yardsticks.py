"""What monitoring compares a period with, measured once at training on the model's own data.

Stored with the model (`monitoring.json`): the calibrated drift thresholds, the holdout AUC's interval with
the probability calibration for estimating AUC, and how much the model relies on each feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.core.records import Record
from driftloop.core.sampling import Rows
from driftloop.core.settings import DriftSettings
from driftloop.modelling.drift.calibration import DriftCalibration, calibrate_drift
from driftloop.modelling.performance import HoldoutPerformance, fit_holdout_performance


class MonitoringYardsticks(Record):
    """A model's own yardsticks for drift, breakage weights and performance."""

    drift: DriftCalibration
    performance: HoldoutPerformance
    weights: dict[str, float]  # each feature's share of the mean |contribution| (they sum to 1)

    def weight(self, column: str) -> float:
        return self.weights.get(column, 0.0)


def attribution_weights(mean_abs_contribution: dict[str, float]) -> dict[str, float]:
    """Mean |SHAP| per feature as shares of their sum (equal shares when the model uses nothing)."""
    total = sum(mean_abs_contribution.values())
    if total <= 0:
        return {name: 1 / len(mean_abs_contribution) for name in mean_abs_contribution}
    return {name: round(value / total, 6) for name, value in mean_abs_contribution.items()}


def fit_yardsticks(
    train_features: pd.DataFrame | Rows,
    *,
    numeric: list[str],
    categorical: list[str],
    holdout_label: np.ndarray,
    holdout_probability: np.ndarray,
    mean_abs_contribution: dict[str, float],
    settings: DriftSettings,
) -> MonitoringYardsticks:
    """Calibrate drift thresholds on the training rows, the holdout AUC's interval on the holdout.

    Args:
        train_features: training rows as model features plus the prediction column (listed in
            `numeric`), in time order.
        numeric: numeric columns, the prediction included.
        categorical: categorical columns.
        holdout_label: the holdout's labels.
        holdout_probability: the model's probabilities on the holdout.
        mean_abs_contribution: the model's mean |contribution| per feature.
        settings: calibration chunks, k, floor, sample size and bootstrap size.

    Returns:
        The yardsticks to store with the model.
    """
    drift = calibrate_drift(train_features, numeric=numeric, categorical=categorical, settings=settings)
    performance = fit_holdout_performance(
        holdout_label, holdout_probability, bootstrap=settings.auc_bootstrap, seed=settings.sample_seed
    )
    return MonitoringYardsticks(
        drift=drift, performance=performance, weights=attribution_weights(mean_abs_contribution)
    )
