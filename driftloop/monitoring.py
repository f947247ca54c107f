"""Monitoring a scored month: feature and prediction drift against the model's reference, and performance."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from driftloop.drift import DriftDecision, DriftSummary, compute_drift, decide_drift, sample_rows
from driftloop.features import FeatureSpec
from driftloop.metrics import Metrics
from driftloop.modeling import PREDICTION_COLUMN
from driftloop.registry import Registry
from driftloop.scoring import ScoredMonth
from driftloop.settings import DriftSettings
from driftloop.storage import Storage


@dataclass(frozen=True)
class MonitorResult:
    month: str
    model_version: int
    summary: DriftSummary
    decision: DriftDecision
    live: Metrics | None
    reference_auc: float | None
    report_key: str
    summary_key: str

    def to_dict(self) -> dict:
        return {
            "month": self.month,
            "model_version": self.model_version,
            "drifted": self.decision.drifted,
            "reasons": list(self.decision.reasons),
            "drift_share": self.summary.drift_share,
            "drifted_features": list(self.summary.drifted_features),
            "prediction_drift": asdict(self.summary.prediction) if self.summary.prediction else None,
            "live_metrics": self.live.headline() if self.live else None,
            "reference_auc": self.reference_auc,
            "report": self.report_key,
            "summary": self.summary.to_dict(),
        }


def monitor_month(
    storage: Storage, registry: Registry, spec: FeatureSpec, scored: ScoredMonth, settings: DriftSettings
) -> MonitorResult:
    """Compare a scored month with the reference stored with its model; decide drift by the thresholds.

    Args:
        storage: where the HTML report and the JSON summary are written.
        registry: holds the model's reference sample and holdout AUC.
        spec: the model's feature spec (which columns are numeric or categorical).
        scored: the month scored by that model.
        settings: drift thresholds and sample sizes.

    Returns:
        The drift summary, the decision with its reasons and the live performance.
    """
    reference = registry.reference(scored.model_version)
    current = scored.features.copy()
    current[PREDICTION_COLUMN] = scored.prediction
    current = sample_rows(current, settings.sample_rows, settings.sample_seed)
    summary, html = compute_drift(
        reference,
        current,
        numeric=spec.numeric,
        categorical=spec.categorical,
        prediction=PREDICTION_COLUMN,
        column_threshold=settings.column_threshold,
    )
    live = scored.metrics()
    reference_auc = registry.get(scored.model_version).metrics["holdout"]["auc"]
    decision = decide_drift(
        summary,
        share_threshold=settings.share_threshold,
        prediction_drift_triggers=settings.prediction_drift_triggers,
        live_auc=live.auc if live else None,
        reference_auc=reference_auc,
        max_auc_drop=settings.max_auc_drop,
    )
    base = f"reports/drift/{spec.contract_name}/{scored.month}/{registry.model}-v{scored.model_version:04d}"
    storage.write_bytes(f"{base}.html", html.encode())
    result = MonitorResult(
        month=scored.month,
        model_version=scored.model_version,
        summary=summary,
        decision=decision,
        live=live,
        reference_auc=reference_auc,
        report_key=f"{base}.html",
        summary_key=f"{base}.json",
    )
    storage.write_bytes(result.summary_key, json.dumps(result.to_dict(), sort_keys=True, indent=2).encode())
    return result
