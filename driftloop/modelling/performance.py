"""Performance before the labels arrive, and how sure the holdout AUC itself is.

**Estimated AUC** (confidence-based, in the style of NannyML's CBPE): the champion's probabilities are
calibrated on its holdout (isotonic regression, stored as JSON points), and a period's expected AUC is the
AUC one would see if each row's label were drawn with its calibrated probability. Its interval comes from
such draws. It cannot see concept drift (it assumes the relation between features and label holds); the
realized AUC replaces it once the labels are known, and the estimate's error is recorded.

**Holdout interval**: a Poisson bootstrap of the holdout AUC. The performance alarm fires when a period's
AUC falls below the holdout AUC by more than that interval widened for the period's own size: a drop larger
than the sampling noise of both, which is what "the model got worse" can mean on finite data.
"""

from __future__ import annotations

import math

import numpy as np

from driftloop.core.records import Record
from driftloop.modelling.metrics import weighted_auc

_CONFIDENCE = 0.95
_MAX_ROWS = 50_000  # rows an estimate draws labels for: enough for AUC to ±0.002, bounded cost
_BOOTSTRAP_CELLS = 1_000_000  # resample weights held at once (8 MB), whatever the holdout's size


class ProbabilityCalibration(Record):
    """Raw probability -> observed rate, as isotonic regression's step points (applied by interpolation)."""

    points: tuple[float, ...]
    rates: tuple[float, ...]

    def apply(self, probability: np.ndarray) -> np.ndarray:
        return np.interp(probability, self.points, self.rates)


class HoldoutPerformance(Record):
    """The champion's holdout AUC with its bootstrap interval, and its probability calibration."""

    holdout_auc: float
    auc_low: float
    auc_high: float
    bootstrap: int
    holdout_rows: int
    calibration: ProbabilityCalibration

    def floor(self, rows: int) -> float:
        """The lowest AUC a period of `rows` rows shows by chance alone (95%), if nothing changed.

        The holdout's interval half-width `h` is for its own size; a period of `rows` rows adds its own
        sampling noise, `h * sqrt(holdout_rows / rows)` (variance ~ 1/n), and the two add in quadrature.
        """
        half = self.holdout_auc - self.auc_low
        return round(self.holdout_auc - half * math.sqrt(1 + self.holdout_rows / max(rows, 1)), 6)


class AucEstimate(Record):
    """Expected AUC of a period from calibrated probabilities, with its interval."""

    expected: float
    low: float
    high: float
    rows: int


def _bootstrap_aucs(p: np.ndarray, y: np.ndarray, bootstrap: int, seed: int) -> np.ndarray:
    """The AUC under `bootstrap` Poisson resamples, drawn a few at a time so memory stays at a few
    copies of the holdout (one draw of all of them would be `bootstrap` copies); the same numbers."""
    rng = np.random.default_rng(seed)
    step = max(1, min(bootstrap, _BOOTSTRAP_CELLS // max(len(y), 1)))
    order = np.argsort(p, kind="stable")  # one sort for every draw
    aucs = []
    for start in range(0, bootstrap, step):
        weights = rng.poisson(1.0, size=(min(step, bootstrap - start), len(y))).astype(float)
        aucs.append(weighted_auc(p, weights * y, weights * (1 - y), order))
    return np.concatenate(aucs)


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - _CONFIDENCE) / 2 * 100
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def fit_holdout_performance(
    label: np.ndarray, probability: np.ndarray, *, bootstrap: int, seed: int
) -> HoldoutPerformance:
    """Bootstrap the holdout AUC and calibrate the probabilities on the holdout.

    Args:
        label: the holdout's 0/1 labels.
        probability: the model's raw probabilities on the holdout.
        bootstrap: Poisson bootstrap resamples of the AUC.
        seed: seed of the resamples.

    Returns:
        The holdout performance stored with the model (part of its yardsticks).
    """
    from sklearn.isotonic import IsotonicRegression

    y = np.asarray(label, dtype=float)
    p = np.asarray(probability, dtype=float)
    low, high = _interval(_bootstrap_aucs(p, y, bootstrap, seed))
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return HoldoutPerformance(
        holdout_auc=round(float(weighted_auc(p, y, 1 - y)), 6),
        auc_low=round(low, 6),
        auc_high=round(high, 6),
        bootstrap=bootstrap,
        holdout_rows=len(y),
        calibration=ProbabilityCalibration(
            points=tuple(round(float(v), 8) for v in isotonic.X_thresholds_),
            rates=tuple(round(float(v), 8) for v in isotonic.y_thresholds_),
        ),
    )


def estimate_auc(
    probability: np.ndarray, calibration: ProbabilityCalibration, *, draws: int, seed: int
) -> AucEstimate:
    """The AUC a period should show if the model is as calibrated as on its holdout (no labels needed).

    Args:
        probability: the model's raw probabilities on the period.
        calibration: the model's holdout calibration.
        draws: label draws for the interval.
        seed: seed of the row sample and the draws.

    Returns:
        The expected AUC (calibrated probabilities as label weights) and the draws' interval.
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(probability, dtype=float)
    if len(p) > _MAX_ROWS:
        p = p[np.sort(rng.choice(len(p), size=_MAX_ROWS, replace=False))]
    q = calibration.apply(p)
    expected = float(weighted_auc(p, q, 1 - q))
    drawn = (rng.random((draws, len(p))) < q).astype(float)
    low, high = _interval(weighted_auc(p, drawn, 1 - drawn))
    return AucEstimate(expected=round(expected, 6), low=round(low, 6), high=round(high, 6), rows=len(p))
