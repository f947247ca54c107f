"""Monitoring a scored period: what moved, whether it matters to the model, and how the model performs.

Detectors, each named in the verdict with its numbers:
- **drift**: per-feature Evidently scores against the model's calibrated thresholds, weighted by how much
  the model relies on each feature; the prediction's own distribution counts on its own.
- **performance**: the realized AUC when the labels are known, else the AUC estimated from calibrated
  probabilities, against the lower bound of the holdout AUC's bootstrap interval.
- **breakage**: collapsed, constant, emptied or newly dominated columns.
- **fixed-drift**: the old rule (one fixed threshold per column, a share of columns), kept for comparison.

Which alarms start a retraining is the policy's business (`driftloop.policy`), not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import pandas as pd

from driftloop import layout
from driftloop.baseline import MonitoringBaseline, attribution_weights
from driftloop.challenger import PREDICTION_COLUMN
from driftloop.drift import DriftDecision, DriftSummary, compute_drift, decide_drift
from driftloop.drift.breakage import Breakage, detect_breakage
from driftloop.drift.summary import ColumnDrift
from driftloop.features import FeatureSpec, feature_values
from driftloop.metrics import Headline
from driftloop.performance import AucEstimate, estimate_auc
from driftloop.records import Record
from driftloop.registry import LoadedModel, Registry
from driftloop.sampling import sample_rows
from driftloop.scoring import ScoredBatch
from driftloop.settings import DriftSettings
from driftloop.storage import Storage
from driftloop.training import contributions

Detector = Literal["drift", "performance", "breakage", "fixed-drift"]
_ATTRIBUTION_ROWS = 2000  # rows explained per period for attribution drift (pred_contrib is the costly part)


class ColumnCheck(Record):
    """One column's drift score against its calibrated threshold, and how much the model relies on it."""

    column: str
    method: str
    score: float
    threshold: float
    weight: float
    drifted: bool


class DriftCheck(Record):
    """Calibrated, attribution-weighted drift of one period.

    `index` is the importance-weighted mean of score / threshold over the features: 1.0 means the inputs,
    weighted by how much the model uses them, moved as far as they naturally moved within its training
    window. One feature the model relies on that moved far raises it as much as many minor ones that moved
    a little, which a plain share of drifted columns cannot express.
    """

    columns: tuple[ColumnCheck, ...]
    prediction: ColumnCheck | None
    weighted_share: float  # the summed weights of the drifted features (reported)
    index: float  # sum of weight * score / threshold (the alarm)
    index_threshold: float
    calibrated: bool  # False for a model stored without a baseline: the fixed threshold stands in

    @property
    def drifted_columns(self) -> tuple[ColumnCheck, ...]:
        return tuple(sorted((c for c in self.columns if c.drifted), key=lambda c: -c.weight))


class AttributionChange(Record):
    """How much one feature's mean |contribution| moved from training to this period."""

    column: str
    reference: float
    current: float

    @property
    def change(self) -> float:
        return self.current / self.reference - 1 if self.reference > 0 else 0.0


class PerformanceCheck(Record):
    """The period's AUC, realized or estimated, against the floor set by the holdout's interval."""

    holdout_auc: float
    floor: float  # holdout AUC minus the 95% noise of the holdout and of a period this size
    estimated: AucEstimate | None
    realized: float | None  # None until the labels are known

    @property
    def estimate_error(self) -> float | None:
        """Estimated minus realized AUC, once both exist."""
        if self.estimated is None or self.realized is None:
            return None
        return round(self.estimated.expected - self.realized, 6)


class Alarm(Record):
    """A detector that fired, with its reason in one sentence with the numbers."""

    detector: Detector
    reason: str
    short: str  # a few words for a table cell: "AUC 0.660 < 0.690"


class MonitoringVerdict(Record):
    """What monitoring concluded about one period for one model version, and on which data."""

    dataset: str
    period: str
    model: str
    model_version: int
    data_version: str  # SHA-256 of the batch that was monitored
    rows: int
    sampled_rows: int  # rows (fixed seed) the drift statistics were computed on
    summary: DriftSummary  # Evidently's per-column scores at the fixed threshold
    decision: DriftDecision  # the fixed rule's verdict ("fixed-drift")
    drift: DriftCheck
    attribution: tuple[AttributionChange, ...]
    breakage: tuple[Breakage, ...]
    performance: PerformanceCheck
    alarms: tuple[Alarm, ...]
    live: Headline | None  # performance on the period's labels, once they are known
    reference_auc: float  # the model's holdout AUC at training
    report_key: str | None  # Evidently's HTML report in the store

    def fired(self, detector: Detector) -> bool:
        return any(alarm.detector == detector for alarm in self.alarms)

    @property
    def drifted(self) -> bool:
        """The calibrated drift detector fired."""
        return self.fired("drift")


@dataclass(frozen=True)
class MonitoredModel:
    """What monitoring needs of a model, whether registered or a backtest's candidate."""

    name: str
    version: int
    booster: lgb.Booster
    spec: FeatureSpec
    reference: pd.DataFrame  # training features + predictions (fixed-seed sample)
    baseline: MonitoringBaseline | None  # None for versions registered before v0.3
    holdout_auc: float
    mean_contributions: dict[str, float]


def monitored_model(registry: Registry, loaded: LoadedModel, reference: pd.DataFrame) -> MonitoredModel:
    """A registered version as monitoring sees it."""
    metrics = loaded.version.metrics
    return MonitoredModel(
        name=loaded.version.model,
        version=loaded.version.version,
        booster=loaded.booster,
        spec=loaded.spec,
        reference=reference,
        baseline=registry.monitoring_baseline(loaded.version.version),
        holdout_auc=metrics.holdout.auc,
        mean_contributions=metrics.mean_abs_contribution,
    )


def _check_drift(summary: DriftSummary, model: MonitoredModel, settings: DriftSettings) -> DriftCheck:
    baseline = model.baseline
    weights = baseline.weights if baseline else attribution_weights(model.mean_contributions)

    def check(drift: ColumnDrift, weight: float) -> ColumnCheck:
        calibrated = baseline.drift.threshold(drift.column) if baseline else None
        threshold = calibrated if calibrated is not None else settings.column_threshold
        return ColumnCheck(
            column=drift.column,
            method=drift.method,
            score=drift.score,
            threshold=threshold,
            weight=weight,
            drifted=drift.score > threshold,
        )

    columns = tuple(check(drift, weights.get(drift.column, 0.0)) for drift in summary.features)
    return DriftCheck(
        columns=columns,
        prediction=check(summary.prediction, 1.0) if summary.prediction else None,
        weighted_share=round(sum(c.weight for c in columns if c.drifted), 6),
        index=round(sum(c.weight * c.score / c.threshold for c in columns), 6),
        index_threshold=settings.drift_index_threshold,
        calibrated=baseline is not None,
    )


def _attribution(model: MonitoredModel, current: pd.DataFrame, seed: int) -> tuple[AttributionChange, ...]:
    sample = sample_rows(current[model.spec.names], _ATTRIBUTION_ROWS, seed)
    now = contributions(model.booster, sample).drop(columns="bias").abs().mean()
    return tuple(
        AttributionChange(
            column=name,
            reference=round(model.mean_contributions.get(name, 0.0), 6),
            current=round(float(v), 6),
        )
        for name, v in now.items()
    )


def _check_performance(
    model: MonitoredModel, scored: ScoredBatch, labels_known: bool, settings: DriftSettings
) -> PerformanceCheck:
    live = scored.metrics if labels_known else None
    baseline = model.baseline
    if baseline is None:  # before v0.3: no interval, no calibration; the fixed allowed drop stands in
        return PerformanceCheck(
            holdout_auc=model.holdout_auc,
            floor=round(model.holdout_auc - settings.max_auc_drop, 6),
            estimated=None,
            realized=live.auc if live else None,
        )
    estimated = estimate_auc(
        scored.prediction,
        baseline.performance.calibration,
        draws=settings.estimate_draws,
        seed=settings.sample_seed,
    )
    return PerformanceCheck(
        holdout_auc=baseline.performance.holdout_auc,
        floor=baseline.performance.floor(len(scored.prediction)),
        estimated=estimated,
        realized=live.auc if live else None,
    )


def _alarms(
    drift: DriftCheck, performance: PerformanceCheck, breakage: tuple[Breakage, ...], fixed: DriftDecision
) -> tuple[Alarm, ...]:
    alarms: list[Alarm] = []
    moved = sorted(drift.columns, key=lambda c: -c.weight * c.score / c.threshold)
    moved = [c for c in moved if c.drifted]
    if drift.index >= drift.index_threshold:
        listed = ", ".join(
            f"{c.column} {c.score / c.threshold:.1f}x its threshold (w={c.weight:.2f})" for c in moved[:5]
        )
        alarms.append(
            Alarm(
                detector="drift",
                reason=f"importance-weighted drift {drift.index:.2f} >= {drift.index_threshold:.2f}; "
                f"drifted features carry {drift.weighted_share:.0%} of the attribution: {listed}",
                short=f"drift {drift.index:.2f}: {', '.join(c.column for c in moved[:2])}",
            )
        )
    p = drift.prediction
    if p is not None and p.drifted:
        alarms.append(
            Alarm(
                detector="drift",
                reason=f"prediction drifted: {p.method} {p.score:.3f} > {p.threshold:.3f}",
                short=f"prediction drift {p.score:.2f} > {p.threshold:.2f}",
            )
        )
    margin = performance.holdout_auc - performance.floor
    bound = (
        f"{performance.holdout_auc:.4f} - {margin:.4f} (holdout AUC minus the 95% interval of the "
        "holdout and of a period this size)"
    )
    if performance.realized is not None:
        if performance.realized < performance.floor:
            alarms.append(
                Alarm(
                    detector="performance",
                    reason=f"realized AUC {performance.realized:.4f} < {bound}",
                    short=f"AUC {performance.realized:.3f} < {performance.floor:.3f}",
                )
            )
    elif performance.estimated is not None and performance.estimated.expected < performance.floor:
        e = performance.estimated
        alarms.append(
            Alarm(
                detector="performance",
                reason=f"estimated AUC {e.expected:.4f} [{e.low:.4f}, {e.high:.4f}] < {bound}; "
                "labels not known yet",
                short=f"est. AUC {e.expected:.3f} < {performance.floor:.3f}",
            )
        )
    alarms += [Alarm(detector="breakage", reason=b.detail, short=f"{b.column} {b.kind}") for b in breakage]
    if fixed.drifted:
        alarms.append(
            Alarm(detector="fixed-drift", reason="; ".join(fixed.reasons), short="fixed thresholds")
        )
    return tuple(alarms)


@dataclass(frozen=True)
class Assessment:
    """A verdict's findings before they are stored, and Evidently's HTML when it was asked for."""

    verdict: MonitoringVerdict
    html: str | None


def assess(
    dataset: str,
    model: MonitoredModel,
    scored: ScoredBatch,
    settings: DriftSettings,
    *,
    labels_known: bool,
    html: bool,
) -> Assessment:
    """Run every detector on a scored period (no storage; the backtest calls this directly).

    Args:
        dataset: the contract's name.
        model: the model that scored the period, with its reference and baseline.
        scored: the period scored by that model.
        settings: sample sizes and thresholds.
        labels_known: whether the period's labels may be used (False within the contract's label delay).
        html: also render Evidently's HTML report.

    Returns:
        The verdict (its report key unset) and the HTML.
    """
    current = scored.features.copy()
    current[PREDICTION_COLUMN] = scored.prediction
    sampled = sample_rows(current, settings.sample_rows, settings.sample_seed)
    # A column with no value left cannot be compared; breakage names it instead.
    present = {c for c in model.spec.names if sampled[c].notna().any() and model.reference[c].notna().any()}
    summary, report = compute_drift(
        model.reference,
        sampled,
        numeric=[c for c in model.spec.numeric if c in present],
        categorical=[c for c in model.spec.categorical if c in present],
        prediction=PREDICTION_COLUMN,
        column_threshold=settings.column_threshold,
        html=html,
    )
    live = scored.metrics if labels_known else None
    fixed = decide_drift(
        summary,
        share_threshold=settings.share_threshold,
        prediction_drift_triggers=settings.prediction_drift_triggers,
        live_auc=live.auc if live else None,
        reference_auc=model.holdout_auc,
        max_auc_drop=settings.max_auc_drop,
    )
    drift = _check_drift(summary, model, settings)
    breakage = detect_breakage(
        model.reference,
        feature_values(scored.batch.frame, model.spec),
        numeric=model.spec.numeric,
        categorical=model.spec.categorical,
        missing_jump=settings.missing_jump,
        new_value_share=settings.new_value_share,
    )
    performance = _check_performance(model, scored, labels_known, settings)
    verdict = MonitoringVerdict(
        dataset=dataset,
        period=scored.batch.period,
        model=model.name,
        model_version=model.version,
        data_version=scored.batch.version.sha256,
        rows=len(current),
        sampled_rows=len(sampled),
        summary=summary,
        decision=fixed,
        drift=drift,
        attribution=_attribution(model, sampled, settings.sample_seed),
        breakage=breakage,
        performance=performance,
        alarms=_alarms(drift, performance, breakage, fixed),
        live=live.headline() if live else None,
        reference_auc=model.holdout_auc,
        report_key=None,
    )
    return Assessment(verdict=verdict, html=report)


def monitor_scored(
    storage: Storage,
    dataset: str,
    model: MonitoredModel,
    scored: ScoredBatch,
    settings: DriftSettings,
    labels_known: bool = True,
) -> MonitoringVerdict:
    """Assess a scored period and store Evidently's HTML report and the verdict (JSON) next to it."""
    assessment = assess(dataset, model, scored, settings, labels_known=labels_known, html=True)
    report_key = layout.drift_report(dataset, scored.batch.period, model.name, model.version)
    storage.write_bytes(report_key, (assessment.html or "").encode())
    verdict = assessment.verdict.model_copy(update={"report_key": report_key})
    key = layout.monitoring_verdict(dataset, verdict.period, model.name, model.version)
    storage.write_bytes(key, verdict.to_json().encode())
    return verdict


def realize(verdict: MonitoringVerdict, scored: ScoredBatch) -> MonitoringVerdict:
    """The verdict once the period's labels have arrived: the realized AUC replaces the estimate's role.

    The estimate stays, so its error is on record; the alarms are decided again on the realized AUC.
    """
    live = scored.metrics
    performance = verdict.performance.model_copy(update={"realized": live.auc if live else None})
    return verdict.model_copy(
        update={
            "performance": performance,
            "live": live.headline() if live else None,
            "alarms": _alarms(verdict.drift, performance, verdict.breakage, verdict.decision),
        }
    )
