"""The leakage guard: before training, how well each feature alone predicts the target.

A feature that on its own separates the classes almost perfectly (single-feature AUC at or above
`leakage.max_single_feature_auc`, 0.95 by default) is almost always the label in disguise: an outcome
column, a post-event timestamp, an ID assigned after the fact. Training stops and names it, unless the
contract lists it under `leakage.accepted`.

How the power is measured, so that it cannot flatter itself: the training rows are split in time order,
80% / 20%. On the first part each feature is turned into a target rate per bin (20 quantile bins for a
numeric feature, one per level for a categorical, missing values as their own bin); the AUC of that rate
is measured on the later 20%. Non-monotone relations count; memorising rare levels does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.records import Record
from driftloop.modelling.metrics import weighted_auc

_BINS = 20
_FIT_SHARE = 0.8
_SMOOTHING = 20.0  # rows of prior weight for a bin's rate: a level seen twice says little


class FeaturePower(Record):
    feature: str
    auc: float


class LeakageSuspected(Exception):
    """A feature predicts the target too well on its own; the message names it and what to do."""


def _bins(values: pd.Series, fit: np.ndarray) -> np.ndarray:
    """Integer bin codes: one per level (categorical) or quantile bin (numeric); missing is bin 0."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        codes, _ = pd.factorize(values, use_na_sentinel=True)
        return codes + 1
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(numbers)
    levels = np.unique(numbers[known])
    if len(levels) <= _BINS:  # few values (a 0/1 flag): one bin each, or quantile edges would merge them
        return np.where(known, np.searchsorted(levels, numbers) + 1, 0)
    fitted = numbers[fit & known]
    edges = np.unique(np.quantile(fitted, np.linspace(0, 1, _BINS + 1))) if len(fitted) else np.array([])
    codes = np.searchsorted(edges[1:-1], numbers, side="right") + 1 if len(edges) >= 2 else known.astype(int)
    return np.where(known, codes, 0)


def _binned_auc(bins: np.ndarray, y: np.ndarray, rate: np.ndarray) -> float:
    """AUC of scoring each row by its bin's rate, counted per bin (a few bins, so no sort of the rows)."""
    size = len(rate)
    positives = np.bincount(bins, weights=y, minlength=size)
    negatives = np.bincount(bins, weights=1.0 - y, minlength=size)
    auc = float(weighted_auc(rate, positives, negatives))
    return 0.5 if np.isnan(auc) else auc


def single_feature_power(features: pd.DataFrame, label: pd.Series, times: pd.Series) -> list[FeaturePower]:
    """Each feature's out-of-time AUC on its own, strongest first (see the module docstring)."""
    order = times.reset_index(drop=True).argsort(kind="stable").to_numpy()  # native: no object array
    fit = np.zeros(len(features), dtype=bool)
    fit[order[: int(len(order) * _FIT_SHARE)]] = True
    y = label.to_numpy(dtype=float)
    if fit.all() or not fit.any() or len(np.unique(y[~fit])) < 2:
        return []
    prior = float(y[fit].mean())
    powers = []
    for name in features.columns:
        bins = _bins(features[name], fit)
        positives = np.bincount(bins[fit], weights=y[fit], minlength=bins.max() + 1)
        counts = np.bincount(bins[fit], minlength=bins.max() + 1)
        rate = (positives + _SMOOTHING * prior) / (counts + _SMOOTHING)  # an unseen bin gets the prior
        auc = _binned_auc(bins[~fit], y[~fit], rate)
        powers.append(FeaturePower(feature=str(name), auc=max(auc, 1.0 - auc)))
    return sorted(powers, key=lambda power: (-power.auc, power.feature))


def check_leakage(features: pd.DataFrame, label: pd.Series, times: pd.Series, contract: Contract) -> None:
    """Raise `LeakageSuspected` when a feature not listed under `leakage.accepted` is too predictive."""
    guard = contract.leakage
    suspects = [
        power
        for power in single_feature_power(features, label, times)
        if power.auc >= guard.max_single_feature_auc and power.feature not in guard.accepted
    ]
    if suspects:
        named = ", ".join(f"{power.feature} (AUC {power.auc:.3f})" for power in suspects)
        raise LeakageSuspected(
            f"training blocked: {named} alone predict(s) `{contract.target.name}` with AUC >= "
            f"{guard.max_single_feature_auc:g} on the training window, which a real input almost never "
            "does: it is probably the label in disguise. Remove it from `features`, mark its column "
            "`role: leakage`, or, if it is genuinely that predictive, list it under `leakage.accepted`"
        )
