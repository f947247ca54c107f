"""Train a challenger on a window of validated months, evaluate it against the champion, promote on evidence.

The window ends at `as_of` (a month) and spans `window_months` months. Its last `holdout_days` days
are the holdout: the challenger never trains on them, and champion, challenger and the naive baseline
are all scored on exactly those rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from driftloop.batches import DataVersion, read_batch, validated_versions
from driftloop.contract import Contract
from driftloop.data import enrich, labels, local_times, month_range, shift_month
from driftloop.drift import sample_rows
from driftloop.features import FEATURE_CODE_VERSION, build_features, fit_feature_spec
from driftloop.metrics import Metrics, score_predictions
from driftloop.model_card import example_explanations, render_model_card
from driftloop.promotion import PromotionDecision, decide_promotion, naive_baseline
from driftloop.registry import ModelVersion, Registry
from driftloop.settings import DriftSettings, PromotionSettings, TrainingSettings
from driftloop.storage import Storage
from driftloop.training import TrainedModel, contributions, predict_proba, train_model

PREDICTION_COLUMN = "prediction"
CODE_VERSION = "driftloop-0.1.0"


@dataclass(frozen=True)
class LabelledWindow:
    """Enriched, labelled rows of a window of months, with their times and data versions."""

    frame: pd.DataFrame
    label: pd.Series
    times: pd.Series
    versions: tuple[DataVersion, ...]
    missing_months: tuple[str, ...] = ()  # months of the window with no validated batch (e.g. quarantined)


def window_months(as_of: str, months: int) -> list[str]:
    return month_range(shift_month(as_of, -(months - 1)), as_of)


def load_window(
    storage: Storage, contract: Contract, months: list[str], tables: dict[str, pd.DataFrame]
) -> LabelledWindow:
    """Validated batches of `months`, enriched and restricted to rows with a known label.

    A month without a validated batch (quarantined by the gate) is left out and named in
    `missing_months`, so one bad month never blocks retraining on the good ones.
    """
    versions, missing = validated_versions(storage, contract, months)
    frame = pd.concat([read_batch(storage, v) for v in versions], ignore_index=True)
    frame = enrich(frame, contract, tables)
    label = labels(frame, contract)
    keep = label.notna().to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    return LabelledWindow(
        frame=frame,
        label=label[keep].reset_index(drop=True),
        times=local_times(frame, contract.time.column, contract.time.timezone),
        versions=tuple(versions),
        missing_months=tuple(missing),
    )


def split_holdout(window: LabelledWindow, holdout_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, holdout): the holdout is the window's last `holdout_days` days."""
    cutoff = window.times.max().normalize() - pd.Timedelta(days=holdout_days - 1)
    holdout = (window.times >= cutoff).to_numpy()
    if holdout.all() or not holdout.any():
        raise ValueError(f"a {holdout_days}-day holdout leaves no training rows or no holdout rows")
    return ~holdout, holdout


@dataclass(frozen=True)
class Challenger:
    """A registered challenger with the holdout evidence needed to judge it."""

    version: ModelVersion
    holdout: Metrics
    baseline: Metrics


def train_challenger(
    storage: Storage,
    registry: Registry,
    contract: Contract,
    tables: dict[str, pd.DataFrame],
    as_of: str,
    settings: TrainingSettings,
    drift: DriftSettings,
) -> Challenger:
    """Train on the window ending at `as_of` (minus the holdout), score the holdout, register the model.

    Args:
        storage: the artifact store holding validated batches.
        registry: where the model is registered.
        contract: the data contract (features, label, time column).
        tables: reference tables for the joins.
        as_of: last month of the window, `YYYY-MM`.
        settings: training parameters.
        drift: sizes the drift reference sample stored with the model.

    Returns:
        The registered version with its holdout and baseline metrics.
    """
    months = window_months(as_of, settings.window_months)
    window = load_window(storage, contract, months, tables)
    train_mask, holdout_mask = split_holdout(window, settings.holdout_days)
    train_frame = window.frame.loc[train_mask].reset_index(drop=True)
    train_label = window.label[train_mask].reset_index(drop=True)
    spec = fit_feature_spec(train_frame, contract)
    trained = train_model(
        train_frame, train_label, window.times[train_mask].reset_index(drop=True), spec, settings
    )

    holdout_frame = window.frame.loc[holdout_mask]
    y_holdout = window.label[holdout_mask].to_numpy()
    holdout_features = build_features(holdout_frame, spec)
    holdout_prob = predict_proba(trained.booster(), holdout_features)
    holdout_metrics = score_predictions(y_holdout, holdout_prob, settings.calibration_bins)
    baseline = naive_baseline(y_holdout, float(train_label.mean()), settings.calibration_bins)

    holdout_start = window.times[holdout_mask].min().isoformat()
    lineage = {
        "dataset": contract.name,
        "as_of": as_of,
        "months": months,
        "data_versions": [v.model_dump() for v in window.versions],
        "missing_months": list(window.missing_months),
        "contract": {"name": contract.name, "version": contract.version, "fingerprint": contract.fingerprint},
        "code_version": CODE_VERSION,
        "feature_code_version": FEATURE_CODE_VERSION,
        "feature_spec_sha256": spec.fingerprint,
        "params": trained.params,
        "num_rounds": trained.num_rounds,
        "train_rows": trained.train_rows,
        "train_period": [trained.train_start, trained.train_end],
        "holdout_rows": int(holdout_mask.sum()),
        "holdout_start": holdout_start,
    }
    metrics = {
        "cv": trained.cv_metrics.to_dict(),
        "folds": [asdict(fold) for fold in trained.folds],
        "holdout": holdout_metrics.to_dict(),
        "baseline": baseline.to_dict(),
        "gain_importance": trained.gain_importance,
        "mean_abs_contribution": trained.mean_contributions,
    }
    reference = reference_sample(trained, window.frame.loc[train_mask], drift)
    order = np.argsort(holdout_prob, kind="stable")
    picked = holdout_features.iloc[[order[-1], order[len(order) // 2], order[0]]]
    picked.index = pd.Index(["highest risk", "median risk", "lowest risk"])
    examples = example_explanations(contributions(trained.booster(), picked), picked)
    card = render_model_card(contract, trained, lineage, holdout_metrics, baseline, examples)
    version = registry.register(trained.model_text, spec, card, reference, lineage, metrics)
    return Challenger(version=version, holdout=holdout_metrics, baseline=baseline)


def reference_sample(trained: TrainedModel, train_frame: pd.DataFrame, drift: DriftSettings) -> pd.DataFrame:
    """Fixed-seed sample of training features with the model's predictions: the drift reference, made once."""
    sample = sample_rows(train_frame, drift.sample_rows, drift.sample_seed)
    features = build_features(sample, trained.spec)
    features[PREDICTION_COLUMN] = predict_proba(trained.booster(), features)
    return features.reset_index(drop=True)


def evaluate_against_champion(
    storage: Storage,
    registry: Registry,
    contract: Contract,
    tables: dict[str, pd.DataFrame],
    challenger: Challenger,
    promotion: PromotionSettings,
    training: TrainingSettings,
) -> PromotionDecision:
    """Score the champion on the challenger's holdout and apply the promotion rule; record the decision."""
    champion = registry.champion()
    champion_metrics = None
    if champion is not None and champion.version != challenger.version.version:
        lineage = challenger.version.lineage
        window = load_window(storage, contract, lineage["months"], tables)
        _, holdout_mask = split_holdout(window, training.holdout_days)
        loaded = registry.load(champion.version)
        probabilities = predict_proba(
            loaded.booster, build_features(window.frame.loc[holdout_mask], loaded.spec)
        )
        champion_metrics = score_predictions(
            window.label[holdout_mask].to_numpy(), probabilities, training.calibration_bins
        )
    elif champion is not None:
        champion_metrics = challenger.holdout  # re-evaluating the champion itself: it cannot beat itself
    decision = decide_promotion(challenger.holdout, champion_metrics, challenger.baseline, promotion)
    veto = _unfair_comparison(champion, challenger)
    if veto is not None:
        decision = PromotionDecision(
            promote=False,
            reasons=(veto, *decision.reasons),
            metric=decision.metric,
            challenger=decision.challenger,
            baseline=decision.baseline,
            champion=decision.champion,
        )
    registry.record_evaluation(
        challenger.version.version,
        {
            "as_of": challenger.version.lineage["as_of"],
            "champion_version": champion.version if champion else None,
            "decision": decision.to_dict(),
        },
    )
    return decision


def _unfair_comparison(champion: ModelVersion | None, challenger: Challenger) -> str | None:
    """Why champion and challenger cannot be compared on this holdout, if they cannot."""
    if champion is None:
        return None
    if champion.version == challenger.version.version:
        return f"v{champion.version} is already the champion (identical model bytes)"
    holdout_start = pd.Timestamp(challenger.version.lineage["holdout_start"])
    champion_end = pd.Timestamp(champion.lineage["train_period"][1])
    if champion_end >= holdout_start:
        return (
            f"the champion v{champion.version} was trained on data up to {champion_end:%Y-%m-%d}, inside "
            f"this holdout (from {holdout_start:%Y-%m-%d}): a challenger must be trained on newer data"
        )
    return None


def promote_if_better(
    registry: Registry, challenger: Challenger, decision: PromotionDecision, data_month: str
) -> bool:
    """Apply a decision: append to the promotion log only when it says promote."""
    if not decision.promote:
        return False
    registry.promote(
        challenger.version.version,
        reason="; ".join(decision.reasons),
        evidence={
            "metric": decision.metric,
            "challenger": decision.challenger.headline(),
            "champion": decision.champion.headline() if decision.champion else None,
            "baseline": decision.baseline.headline(),
        },
        data_month=data_month,
    )
    return True
