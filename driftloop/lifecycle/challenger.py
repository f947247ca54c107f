"""A challenger: trained on a window's training rows, scored on its holdout, registered with its lineage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from time import perf_counter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.provenance import CODE_VERSION, library_versions
from driftloop.core.records import Record
from driftloop.core.sampling import FrameRows
from driftloop.core.settings import DriftSettings, TrainingParameters
from driftloop.core.times import local_times
from driftloop.data.batches import DataVersion
from driftloop.data.sources import SourceProvenance
from driftloop.data.windows import TrainingWindow, WindowPlan
from driftloop.lifecycle.cluster import ClusterTraining, train_on_cluster
from driftloop.lifecycle.model_card import example_explanations, render_model_card
from driftloop.modelling.features import FEATURE_CODE_VERSION, build_features, fit_feature_spec, spec_inputs
from driftloop.modelling.group_leakage import CheckedRows, GroupLeakageCheck, check_group_leakage
from driftloop.modelling.leakage import check_leakage
from driftloop.modelling.metrics import Metrics, score_predictions
from driftloop.modelling.promotion import naive_metrics
from driftloop.modelling.training import (
    PREDICTION_COLUMN,
    TrainedModel,
    contributions,
    predict_proba,
    train_model,
)
from driftloop.modelling.yardsticks import MonitoringYardsticks, fit_yardsticks
from driftloop.registry import (
    LOCAL,
    ContractRef,
    Engine,
    Lineage,
    LoadedModel,
    ModelMetrics,
    ModelVersion,
    Registry,
)

if TYPE_CHECKING:
    import lightgbm as lgb
    from distributed import Client


class Challenger(Record):
    """A registered challenger with the holdout evidence needed to judge it."""

    version: ModelVersion
    holdout: Metrics
    naive: Metrics  # the naive model on the same holdout


def fit_challenger(
    window: TrainingWindow, contract: Contract, settings: TrainingParameters
) -> tuple[TrainedModel, pd.DataFrame]:
    """Freeze the feature spec on the training rows and train on them: the step a reproduction repeats.

    Returns:
        The trained model and the training rows' model matrix (shared by the leakage guard and LightGBM).
    """
    train = ~window.holdout
    spec = fit_feature_spec(window.frame.loc[train, spec_inputs(window.frame, contract)], contract)
    # The training rows' matrix, taken column by column: never a copy of the window, nor of its matrix.
    features = build_features(window.frame, spec, rows=train)
    label, times = window.train_label, window.train_times
    check_leakage(features, label, times, contract)
    return train_model(features, label, times, spec, settings), features


@dataclass(frozen=True)
class Candidate:
    """A trained challenger with its holdout evidence and monitoring yardsticks, not yet registered."""

    trained: TrainedModel
    booster: lgb.Booster
    holdout: Metrics
    naive: Metrics  # the naive model on the same holdout
    holdout_features: pd.DataFrame
    holdout_probability: np.ndarray
    reference: pd.DataFrame  # fixed-seed sample of training features + predictions: the drift reference
    yardsticks: MonitoringYardsticks  # what monitoring compares a period with
    group_leakage: GroupLeakageCheck | None = None  # the group leakage check, when its AUC called for one


def build_candidate(
    window: TrainingWindow,
    contract: Contract,
    settings: TrainingParameters,
    drift: DriftSettings,
    champion: LoadedModel | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> Candidate:
    """Train on the window's training rows, score its holdout, and measure its monitoring yardsticks.

    Args:
        window: the loaded window with its holdout.
        contract: the data contract (features, label, time column).
        settings: training parameters.
        drift: sizes the drift reference sample and the calibration of the yardsticks.
        champion: the champion to compare with on the same holdout, for the group leakage check.
        progress: where to say what the group leakage check found, when it ran.

    Returns:
        The candidate; a backtest compares candidates without registering them.

    Raises:
        LeakageSuspected: a feature alone, or a group of them (`GroupLeakageSuspected`), restates the label.
    """
    trained, features = fit_challenger(window, contract, settings)
    # Time order by datetime64 (UTC), not an object array of Timestamps: the same order, faster.
    order = np.argsort(window.train_times.to_numpy(dtype="datetime64[ns]"), kind="stable")
    candidate = _judged(
        trained,
        features,
        order,
        window.holdout_frame,
        window.holdout_label,
        float(window.train_label.mean()),
        settings,
        drift,
    )
    rows = CheckedRows(
        train=features,
        train_label=window.train_label.to_numpy(dtype=float),
        holdout=candidate.holdout_features,
        holdout_label=window.holdout_label,
        train_source=lambda: _label_source(window, contract),
        train_times=window.train_times,
    )
    return _checked(candidate, rows, contract, champion, window.holdout_frame, progress)


def _label_source(window: TrainingWindow, contract: Contract) -> np.ndarray:
    """What the label is cut from, on the training rows: the target column when it holds numbers, else the
    0/1 label itself (one column taken, never a copy of the window)."""
    values = window.frame[contract.target.column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float)[~window.holdout]
    return window.train_label.to_numpy(dtype=float)


def build_candidate_on_cluster(
    training: ClusterTraining,
    contract: Contract,
    settings: TrainingParameters,
    drift: DriftSettings,
    champion: LoadedModel | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> Candidate:
    """A model trained on a cluster, judged like one trained here: its holdout, its yardsticks from the
    fixed-seed sample of training rows the workers sent (in time order), and the group leakage check's
    retrainings on that sample."""
    features = build_features(training.sample, training.trained.spec)
    candidate = _judged(
        training.trained,
        features,
        np.arange(len(features)),
        training.holdout_frame,
        training.holdout_label,
        training.positive_rate,
        settings,
        drift,
    )
    rows = CheckedRows(
        train=features,
        train_label=training.sample_label.to_numpy(dtype=float),
        holdout=candidate.holdout_features,
        holdout_label=training.holdout_label,
        every_row=False,
    )
    return _checked(candidate, rows, contract, champion, training.holdout_frame, progress)


def _checked(
    candidate: Candidate,
    rows: CheckedRows,
    contract: Contract,
    champion: LoadedModel | None,
    holdout_frame: pd.DataFrame,
    progress: Callable[[str], None],
) -> Candidate:
    """The candidate once the group leakage check has passed it (or had no cause to run).

    Raises:
        GroupLeakageSuspected: a group of features restates the label; the candidate goes no further.
    """
    champion_auc = None
    if champion is not None:  # the champion on the same holdout, as the evaluation will score it
        probability = predict_proba(champion.booster, build_features(holdout_frame, champion.spec))
        champion_auc = score_predictions(rows.holdout_label, probability).auc
    started = perf_counter()
    check = check_group_leakage(rows, candidate.trained, candidate.holdout.auc, champion_auc, contract)
    if check is None:
        return candidate
    progress(f"{check.summary()} in {perf_counter() - started:.1f} s")
    return replace(candidate, group_leakage=check)


def _judged(
    trained: TrainedModel,
    features: pd.DataFrame,
    order: np.ndarray,
    holdout_frame: pd.DataFrame,
    holdout_label: np.ndarray,
    positive_rate: float,
    settings: TrainingParameters,
    drift: DriftSettings,
) -> Candidate:
    """A trained model scored on the holdout, with its drift reference and yardsticks from `features`
    (training rows, `order` putting them in time order)."""
    booster = trained.booster()
    holdout_features = build_features(holdout_frame, trained.spec)
    holdout_prob = predict_proba(booster, holdout_features)
    # The training rows with their predictions, copied only where the calibration samples them.
    prediction = predict_proba(booster, features)
    scored = FrameRows(features, extra={PREDICTION_COLUMN: prediction})
    in_time_order = FrameRows(features, order=order, extra={PREDICTION_COLUMN: prediction})
    yardsticks = fit_yardsticks(
        in_time_order,
        numeric=[*trained.spec.numeric, PREDICTION_COLUMN],
        categorical=trained.spec.categorical,
        holdout_label=holdout_label,
        holdout_probability=holdout_prob,
        mean_abs_contribution=trained.mean_contributions,
        settings=drift,
    )
    return Candidate(
        trained=trained,
        booster=booster,
        holdout=score_predictions(holdout_label, holdout_prob, settings.calibration_bins),
        naive=naive_metrics(holdout_label, positive_rate, settings.calibration_bins),
        holdout_features=holdout_features,
        holdout_probability=holdout_prob,
        reference=scored.sample(drift.sample_rows, drift.sample_seed).reset_index(drop=True),
        yardsticks=yardsticks,
    )


def train_challenger(
    registry: Registry,
    contract: Contract,
    window: TrainingWindow,
    as_of: str,
    settings: TrainingParameters,
    drift: DriftSettings,
    source: SourceProvenance,
    progress: Callable[[str], None] = lambda message: None,
) -> Challenger:
    """Train on the window's training rows, score its holdout, register the model with its lineage.

    Args:
        registry: where the model is registered (and its champion read, for the group leakage check).
        contract: the data contract (features, label, time column).
        window: the loaded window with its holdout.
        as_of: last period of the window.
        settings: training parameters.
        drift: sizes the drift reference sample stored with the model.
        source: the source's fingerprint and the reference tables' hashes, for the lineage.
        progress: where to say what the group leakage check found, when it ran.

    Returns:
        The registered version with its holdout and naive-model metrics.

    Raises:
        LeakageSuspected: a feature alone, or a group of them, restates the label: nothing is registered.
    """
    made = WindowMade(
        periods=window.periods,
        versions=window.versions,
        missing_periods=window.missing_periods,
        holdout_rows=int(window.holdout.sum()),
        holdout_start=window.holdout_start.isoformat(),
        engine=LOCAL,
    )
    champion = comparable_champion(registry, window.holdout_start)
    candidate = build_candidate(window, contract, settings, drift, champion, progress)
    return register_candidate(registry, contract, candidate, as_of, made, settings, source)


def comparable_champion(registry: Registry, holdout_start: pd.Timestamp) -> LoadedModel | None:
    """The champion, when it can be judged on a holdout starting then (trained before it), else None."""
    champion = registry.champion()
    if champion is None or pd.Timestamp(champion.lineage.train_period[1]) >= holdout_start:
        return None  # none yet, or trained on these days: its AUC there says nothing (evaluation refuses it)
    return registry.load(champion.version)


@dataclass(frozen=True)
class WindowMade:
    """What a lineage says of the window a model was trained on, and where it was trained."""

    periods: tuple[str, ...]
    versions: tuple[DataVersion, ...]
    missing_periods: tuple[str, ...]
    holdout_rows: int
    holdout_start: str
    engine: Engine


def register_candidate(
    registry: Registry,
    contract: Contract,
    candidate: Candidate,
    as_of: str,
    made: WindowMade,
    settings: TrainingParameters,
    source: SourceProvenance,
) -> Challenger:
    """Register a candidate with its lineage, metrics and model card."""
    trained, holdout_metrics, naive = candidate.trained, candidate.holdout, candidate.naive
    lineage = Lineage(
        dataset=contract.name,
        as_of=as_of,
        periods=made.periods,
        data_versions=made.versions,
        missing_periods=made.missing_periods,
        contract=ContractRef(name=contract.name, version=contract.version, fingerprint=contract.fingerprint),
        code_version=CODE_VERSION,
        feature_code_version=FEATURE_CODE_VERSION,
        feature_spec_sha256=trained.spec.fingerprint,
        params=trained.params,
        num_rounds=trained.num_rounds,
        train_rows=trained.train_rows,
        train_period=(trained.train_start, trained.train_end),
        holdout_rows=made.holdout_rows,
        holdout_start=made.holdout_start,
        training=settings.parameters(),
        source_fingerprint=source.source_fingerprint,
        reference_tables_sha256=source.reference_tables_sha256,
        library_versions=library_versions(),
        engine=made.engine,
    )
    metrics = ModelMetrics(
        cv=trained.cv_metrics,
        folds=trained.folds,
        holdout=holdout_metrics,
        naive=naive,
        gain_importance=trained.gain_importance,
        mean_abs_contribution=trained.mean_contributions,
    )
    order = np.argsort(candidate.holdout_probability, kind="stable")
    picked = candidate.holdout_features.iloc[[order[-1], order[len(order) // 2], order[0]]]
    picked.index = pd.Index(["highest", "median", "lowest"])
    examples = example_explanations(contributions(candidate.booster, picked), picked)
    card = render_model_card(contract, trained, lineage, holdout_metrics, naive, examples)
    version = registry.register(
        model_text=trained.model_text,
        spec=trained.spec,
        card=card,
        reference=candidate.reference,
        contract=contract,
        lineage=lineage,
        metrics=metrics,
        yardsticks=candidate.yardsticks,
    )
    return Challenger(version=version, holdout=holdout_metrics, naive=naive)


def train_challenger_on_cluster(
    registry: Registry,
    contract: Contract,
    client: Client,
    store_url: str,
    periods: list[str],
    versions: list[DataVersion],
    plan: WindowPlan,
    as_of: str,
    settings: TrainingParameters,
    drift: DriftSettings,
    source: SourceProvenance,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[Challenger, TrainingWindow]:
    """`train_challenger` with the window read and the model trained on a Dask cluster.

    Returns:
        The registered challenger, and its holdout rows as a window (what its evaluation scores).
    """
    training = train_on_cluster(
        client, store_url, contract, periods, versions, plan, settings, drift, progress
    )
    covered = {version.period for version in versions}
    made = WindowMade(
        periods=tuple(periods),
        versions=tuple(versions),
        missing_periods=tuple(period for period in periods if period not in covered),
        holdout_rows=len(training.holdout_frame),
        holdout_start=training.holdout_start.isoformat(),
        engine=training.engine,
    )
    champion = comparable_champion(registry, training.holdout_start)
    candidate = build_candidate_on_cluster(training, contract, settings, drift, champion, progress)
    challenger = register_candidate(registry, contract, candidate, as_of, made, settings, source)
    time = contract.time
    holdout = TrainingWindow(
        frame=training.holdout_frame,
        label=pd.Series(training.holdout_label),
        times=local_times(training.holdout_frame, time.column, time.timezone, time.format),
        versions=made.versions,
        periods=made.periods,
        missing_periods=made.missing_periods,
        holdout=np.ones(len(training.holdout_frame), dtype=bool),
    )
    return challenger, holdout
