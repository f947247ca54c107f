"""Training: LightGBM with time-ordered cross-validation, deterministic, explained by its own tools.

Same rows + same settings + same seed gives a byte-identical model file (LightGBM's deterministic,
row-wise mode). The number of boosting rounds is chosen by early stopping on the time-ordered folds,
then the final model is trained once on all rows with that number, so nothing depends on a random split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from driftloop.core.records import Record
from driftloop.core.sampling import sample_rows
from driftloop.core.settings import BoosterParams, TrainingParameters
from driftloop.modelling.features import FeatureSpec
from driftloop.modelling.metrics import Metrics, score_predictions

if TYPE_CHECKING:  # imported where used: LightGBM (with scikit-learn) costs a command line 0.8 s
    import lightgbm as lgb

# The column a model's probability goes under, beside its inputs: in the drift reference sample, the stored
# predictions and the prediction log.
PREDICTION_COLUMN = "prediction"


class FoldResult(Record):
    """One time-ordered CV fold: its rows, validation span, early-stopping round and metrics."""

    fold: int
    train_rows: int
    valid_rows: int
    valid_start: str
    valid_end: str
    best_iteration: int
    metrics: Metrics


@dataclass(frozen=True)
class TrainedModel:
    """A trained booster with its feature spec and the evidence of how it was chosen."""

    model_text: str  # LightGBM's own text format: the only serialised form (no pickle)
    spec: FeatureSpec
    params: BoosterParams  # as passed to `lightgbm.train`
    num_rounds: int
    folds: tuple[FoldResult, ...]
    cv_metrics: Metrics  # out-of-fold predictions of all folds pooled
    gain_importance: dict[str, float]
    train_rows: int
    train_start: str
    train_end: str
    mean_contributions: dict[str, float] = field(default_factory=dict)  # mean |pred_contrib| per feature

    def booster(self) -> lgb.Booster:
        import lightgbm as lgb

        return lgb.Booster(model_str=self.model_text)


class TooFewTimes(ValueError):
    """The training rows hold a single time: no fold can validate on a later time than it trains on."""


def time_ordered_folds(times: pd.Series, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window splits on time order: each fold validates on a later block than it trains on.

    Rows are cut into `folds + 1` blocks of equal count after a stable sort by time; fold k trains on
    blocks 0..k and validates on block k+1. Ties in time never straddle the train/validation edge, so
    coarse times (a year for every row of it) can merge blocks: a fold whose blocks merged away is left
    out, and fewer folds than asked are returned.

    Raises:
        TooFewTimes: not one fold is left (every row has the same time).
    """
    order = np.argsort(times.to_numpy(), kind="stable")
    sorted_times = times.to_numpy()[order]
    cuts = []
    for k in range(1, folds + 1):
        position = math.floor(len(order) * k / (folds + 1))
        # move the cut to the first row of its timestamp so equal times stay together
        position = int(np.searchsorted(sorted_times, sorted_times[position], side="left"))
        cuts.append(position)
    cuts.append(len(order))
    splits = []
    for k in range(folds):
        train_idx, valid_idx = order[: cuts[k]], order[cuts[k] : cuts[k + 1]]
        if len(train_idx) and len(valid_idx):
            splits.append((np.sort(train_idx), np.sort(valid_idx)))
    if not splits:
        raise TooFewTimes(
            f"too few distinct times for {folds} time-ordered folds: the training rows hold one time "
            f"({sorted_times[0] if len(sorted_times) else 'none'}); train on more periods "
            "(windows.train_periods in the contract, or DRIFTLOOP_TRAIN_WINDOW_PERIODS)"
        )
    return splits


def _iso(value: object) -> str:
    """ISO-8601 with an explicit UTC offset (times are handled as naive UTC inside training)."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).isoformat()


@dataclass(frozen=True)
class FoldData:
    """What every cross-validation fold reads: the model matrix, labels and times of the training rows."""

    features: pd.DataFrame
    label: np.ndarray
    times: pd.Series  # naive UTC, aligned with `features`
    spec: FeatureSpec
    settings: TrainingParameters


@dataclass(frozen=True)
class FoldOutcome:
    """One fold's result, with its out-of-fold labels and predictions for the pooled metrics."""

    result: FoldResult
    valid_label: np.ndarray
    valid_prob: np.ndarray


def train_fold(data: FoldData, number: int, train_idx: np.ndarray, valid_idx: np.ndarray) -> FoldOutcome:
    """Train one time-ordered fold with early stopping on its validation block."""
    import lightgbm as lgb

    from driftloop.modelling.matrix_rows import matrix_dataset

    settings, y, categorical = data.settings, data.label, data.spec.categorical
    # The fold's training rows go to LightGBM a block at a time, never as a copy of them.
    train_set = matrix_dataset(data.features, y, categorical, rows=train_idx, keep_rows=False)
    valid_set = matrix_dataset(data.features, y, categorical, rows=valid_idx)
    booster = lgb.train(
        settings.lightgbm_params().for_lightgbm(),
        train_set,
        num_boost_round=settings.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(settings.early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    prob = predict_proba(booster, data.features, rows=valid_idx, num_iteration=booster.best_iteration)
    valid_times = data.times.iloc[valid_idx]
    result = FoldResult(
        fold=number,
        train_rows=len(train_idx),
        valid_rows=len(valid_idx),
        valid_start=_iso(valid_times.min()),
        valid_end=_iso(valid_times.max()),
        best_iteration=int(booster.best_iteration or settings.max_rounds),
        metrics=score_predictions(y[valid_idx], prob, settings.calibration_bins),
    )
    return FoldOutcome(result=result, valid_label=y[valid_idx], valid_prob=prob)


FoldRunner = Callable[[FoldData, list[tuple[int, np.ndarray, np.ndarray]]], list[FoldOutcome]]


def folds_in_turn(data: FoldData, folds: list[tuple[int, np.ndarray, np.ndarray]]) -> list[FoldOutcome]:
    """The folds one after the other, in this process (a cluster runs them side by side instead)."""
    return [train_fold(data, number, train_idx, valid_idx) for number, train_idx, valid_idx in folds]


@dataclass(frozen=True)
class CrossValidation:
    """The time-ordered folds, their pooled out-of-fold metrics, and the rounds the final model gets."""

    folds: tuple[FoldResult, ...]
    metrics: Metrics
    num_rounds: int  # the median of the folds' early-stopping rounds


def cross_validate(
    features: pd.DataFrame,
    label: pd.Series,
    times: pd.Series,
    spec: FeatureSpec,
    settings: TrainingParameters,
    run_folds: FoldRunner = folds_in_turn,
) -> CrossValidation:
    """Time-ordered cross-validation with early stopping: how many rounds, and how good out of fold.

    `run_folds` runs the independent folds: in turn here, or on a cluster's workers.
    """
    if label.isna().any():
        raise ValueError("train_model needs labelled rows only")
    # naive UTC datetime64: tz-aware values would become an object array of Timestamps (0.5 s a window)
    time_values = pd.Series(
        pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy(), index=features.index
    )
    data = FoldData(features, label.to_numpy(dtype=float), time_values, spec, settings)
    splits = time_ordered_folds(time_values, settings.cv_folds)
    outcomes = run_folds(data, [(number, t, v) for number, (t, v) in enumerate(splits, 1)])
    results = tuple(outcome.result for outcome in outcomes)
    return CrossValidation(
        folds=results,
        metrics=score_predictions(
            np.concatenate([o.valid_label for o in outcomes]),
            np.concatenate([o.valid_prob for o in outcomes]),
            settings.calibration_bins,
        ),
        num_rounds=max(1, int(np.median([fold.best_iteration for fold in results]))),
    )


def train_model(
    features: pd.DataFrame,
    label: pd.Series,
    times: pd.Series,
    spec: FeatureSpec,
    settings: TrainingParameters,
) -> TrainedModel:
    """Cross-validate in time order, then fit the final booster on every row.

    Args:
        features: the model matrix of the training rows (`build_features` with `spec`; labelled rows only).
        label: 0/1 labels aligned with `frame`.
        times: event times aligned with `frame` (defines the time order).
        spec: the frozen feature spec (from `fit_feature_spec` on these rows).
        settings: LightGBM and CV parameters.

    Returns:
        The trained model with per-fold and pooled out-of-fold metrics, gain importance and mean
        absolute contributions.
    """
    import lightgbm as lgb

    from driftloop.modelling.matrix_rows import matrix_dataset

    validation = cross_validate(features, label, times, spec, settings)
    y = label.to_numpy(dtype=float)
    params = settings.lightgbm_params()
    final = lgb.train(
        params.for_lightgbm(),
        matrix_dataset(features, y, spec.categorical, keep_rows=False),
        num_boost_round=validation.num_rounds,
    )
    gain = final.feature_importance(importance_type="gain")
    total_gain = float(gain.sum()) or 1.0
    utc = pd.to_datetime(times, utc=True)
    return TrainedModel(
        model_text=final.model_to_string(),
        spec=spec,
        params=params,
        num_rounds=validation.num_rounds,
        folds=validation.folds,
        cv_metrics=validation.metrics,
        gain_importance={name: float(g) / total_gain for name, g in zip(spec.names, gain, strict=True)},
        train_rows=len(features),
        train_start=_iso(utc.min()),
        train_end=_iso(utc.max()),
        mean_contributions=mean_abs_contributions(final, features, settings.explain_rows, settings.seed),
    )


PREDICT_ROWS = 131_072  # rows LightGBM converts to float64 at a time when predicting: 20 MB, not the batch


def predict_proba(
    booster: lgb.Booster,
    features: pd.DataFrame,
    rows: np.ndarray | None = None,
    num_iteration: int | None = None,
) -> np.ndarray:
    """Probability of the positive class for a model matrix from `build_features` (only `rows`, positions,
    when given; the first `num_iteration` trees, when given).

    A block of rows at a time: LightGBM converts what it predicts to one float64 matrix, and a row's
    prediction does not depend on the others, so the result is the same without a copy of the batch.
    """
    count = len(features) if rows is None else len(rows)
    out = np.empty(count, dtype=float)
    for start in range(0, count, PREDICT_ROWS):
        stop = min(start + PREDICT_ROWS, count)
        block = features.iloc[start:stop] if rows is None else features.iloc[rows[start:stop]]
        out[start:stop] = booster.predict(block, num_iteration=num_iteration)
    return out


def contributions(booster: lgb.Booster, features: pd.DataFrame) -> pd.DataFrame:
    """Per-prediction explanations: LightGBM's `pred_contrib` (log-odds), one column per feature + bias."""
    values = booster.predict(features, pred_contrib=True)
    return pd.DataFrame(values, columns=[*features.columns, "bias"], index=features.index)


def mean_abs_contributions(
    booster: lgb.Booster, features: pd.DataFrame, rows: int, seed: int
) -> dict[str, float]:
    """Global view of `pred_contrib`: mean |contribution| per feature on a fixed-seed sample of rows."""
    sample = sample_rows(features, rows, seed)
    table = contributions(booster, sample).drop(columns="bias").abs().mean()
    return {name: float(value) for name, value in table.items()}
