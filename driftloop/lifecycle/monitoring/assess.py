"""Run every detector on a scored period and store the verdict.

Detectors, each named in the verdict with its numbers:
- **drift**: per-feature Evidently scores against the model's calibrated thresholds, weighted by how much
  the model relies on each feature; the prediction's own distribution counts on its own.
- **performance**: the realized AUC when the labels are known, else the AUC estimated from calibrated
  probabilities, against the lower bound of the holdout AUC's bootstrap interval.
- **breakage**: collapsed, constant, emptied or newly dominated columns.
- **fixed-drift**: the old rule (one fixed threshold per column, a share of columns), kept for comparison.

Which alarms start a retraining is the policy's business (`driftloop.lifecycle.policy`), not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from driftloop.core import faults, layout
from driftloop.core.sampling import FrameRows, sample_rows
from driftloop.core.settings import DriftSettings
from driftloop.core.storage import Storage
from driftloop.lifecycle.monitoring.alarms import raise_alarms
from driftloop.lifecycle.monitoring.model import MonitoredModel
from driftloop.lifecycle.monitoring.verdict import (
    AttributionChange,
    ColumnCheck,
    DriftCheck,
    MonitoringVerdict,
    PerformanceCheck,
    ServedSummary,
)
from driftloop.lifecycle.scoring import ScoredBatch
from driftloop.modelling.drift import DriftSummary, apply_fixed_rule, compute_drift
from driftloop.modelling.drift.breakage import detect_breakage
from driftloop.modelling.drift.summary import ColumnDrift
from driftloop.modelling.features import feature_values
from driftloop.modelling.performance import estimate_auc
from driftloop.modelling.training import PREDICTION_COLUMN, contributions
from driftloop.modelling.yardsticks import attribution_weights


def _check_drift(summary: DriftSummary, model: MonitoredModel, settings: DriftSettings) -> DriftCheck:
    yardsticks = model.yardsticks
    weights = yardsticks.weights if yardsticks else attribution_weights(model.mean_contributions)

    def check(drift: ColumnDrift, weight: float) -> ColumnCheck:
        calibrated = yardsticks.drift.threshold(drift.column) if yardsticks else None
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
        calibrated=yardsticks is not None,
    )


def _attribution(
    model: MonitoredModel, current: pd.DataFrame, rows: int, seed: int
) -> tuple[AttributionChange, ...]:
    """Mean |contribution| per feature on `rows` sampled rows (pred_contrib is the costly part)."""
    sample = sample_rows(current[model.spec.names], rows, seed)
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
    yardsticks = model.yardsticks
    if yardsticks is None:  # before v0.3: no interval, no calibration; the fixed allowed drop stands in
        return PerformanceCheck(
            holdout_auc=model.holdout_auc,
            floor=round(model.holdout_auc - settings.max_auc_drop, 6),
            estimated=None,
            realized=live.auc if live else None,
        )
    estimated = estimate_auc(
        scored.prediction,
        yardsticks.performance.calibration,
        draws=settings.estimate_draws,
        seed=settings.sample_seed,
    )
    return PerformanceCheck(
        holdout_auc=yardsticks.performance.holdout_auc,
        floor=yardsticks.performance.floor(len(scored.prediction)),
        estimated=estimated,
        realized=live.auc if live else None,
    )


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
    served: ServedSummary | None = None,
) -> Assessment:
    """Run every detector on a scored period (no storage; the backtest calls this directly).

    Args:
        dataset: the contract's name.
        model: the model that scored the period, with its reference and yardsticks.
        scored: the period scored by that model.
        settings: sample sizes and thresholds.
        labels_known: whether the period's labels may be used (False within the contract's label delay).
        html: also render Evidently's HTML report.
        served: what the service served, when `scored` holds the period's prediction log.

    Returns:
        The verdict (its report key unset) and the HTML.
    """
    # The sampled rows with their predictions: the period's matrix itself is not copied.
    current = FrameRows(scored.features, extra={PREDICTION_COLUMN: scored.prediction})
    sampled = current.sample(settings.sample_rows, settings.sample_seed)
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
    fixed = apply_fixed_rule(
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
        fixed_rule=fixed,
        drift=drift,
        attribution=_attribution(model, sampled, settings.attribution_rows, settings.sample_seed),
        breakage=breakage,
        performance=performance,
        alarms=raise_alarms(drift, performance, breakage),
        live=live.headline() if live else None,
        reference_auc=model.holdout_auc,
        report_key=None,
        served=served,
    )
    return Assessment(verdict=verdict, html=report)


def monitor_scored(
    storage: Storage,
    dataset: str,
    model: MonitoredModel,
    scored: ScoredBatch,
    settings: DriftSettings,
    labels_known: bool = True,
    served: ServedSummary | None = None,
) -> MonitoringVerdict:
    """Assess a scored period and store Evidently's HTML report and the verdict (JSON) next to it."""
    assessment = assess(dataset, model, scored, settings, labels_known=labels_known, html=True, served=served)
    period, version = scored.batch.period, model.version
    report_key = layout.drift_report(dataset, period, model.name, version, served=served is not None)
    storage.write_bytes(report_key, (assessment.html or "").encode())
    faults.reached("monitor.report-stored")
    verdict = assessment.verdict.model_copy(update={"report_key": report_key})
    save_verdict(storage, verdict)
    faults.reached("monitor.verdict-stored")
    return verdict


def save_verdict(storage: Storage, verdict: MonitoringVerdict) -> str:
    """Store a verdict where its period and model say (a realized verdict replaces the estimated one)."""
    dataset, period, served = verdict.dataset, verdict.period, verdict.served is not None
    key = layout.monitoring_verdict(dataset, period, verdict.model, verdict.model_version, served)
    storage.write_bytes(key, verdict.to_json().encode())
    return key


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
            "alarms": raise_alarms(verdict.drift, performance, verdict.breakage),
        }
    )
