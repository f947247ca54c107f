"""Monitoring a scored period: feature and prediction drift against the model's reference, and performance."""

from __future__ import annotations

import pandas as pd

from driftloop import layout
from driftloop.challenger import PREDICTION_COLUMN
from driftloop.drift import DriftDecision, DriftSummary, compute_drift, decide_drift
from driftloop.metrics import Headline
from driftloop.records import Record
from driftloop.registry import LoadedModel
from driftloop.sampling import sample_rows
from driftloop.scoring import ScoredBatch
from driftloop.settings import DriftSettings
from driftloop.storage import Storage


class MonitoringVerdict(Record):
    """What monitoring concluded about one period for one model version, and on which data."""

    dataset: str
    period: str
    model: str
    model_version: int
    data_version: str  # SHA-256 of the batch that was monitored
    summary: DriftSummary
    decision: DriftDecision
    live: Headline | None  # performance on the period's labels, once they are known
    reference_auc: float  # the model's holdout AUC at training
    report_key: str  # Evidently's HTML report in the store

    @property
    def drifted(self) -> bool:
        return self.decision.drifted


def monitor_scored(
    storage: Storage,
    dataset: str,
    model: LoadedModel,
    reference: pd.DataFrame,
    scored: ScoredBatch,
    settings: DriftSettings,
) -> MonitoringVerdict:
    """Compare a scored period with the reference stored with its model; decide drift by the thresholds.

    Args:
        storage: where the HTML report and the verdict are written.
        dataset: the contract's name.
        model: the model that scored the period (its spec says which columns are numeric or categorical).
        reference: the model's reference sample (training features + predictions).
        scored: the period scored by that model.
        settings: drift thresholds and sample sizes.

    Returns:
        The verdict, also stored as JSON next to the report.
    """
    current = scored.features.copy()
    current[PREDICTION_COLUMN] = scored.prediction
    current = sample_rows(current, settings.sample_rows, settings.sample_seed)
    summary, html = compute_drift(
        reference,
        current,
        numeric=model.spec.numeric,
        categorical=model.spec.categorical,
        prediction=PREDICTION_COLUMN,
        column_threshold=settings.column_threshold,
    )
    live = scored.metrics
    reference_auc = model.version.metrics.holdout.auc
    decision = decide_drift(
        summary,
        share_threshold=settings.share_threshold,
        prediction_drift_triggers=settings.prediction_drift_triggers,
        live_auc=live.auc if live else None,
        reference_auc=reference_auc,
        max_auc_drop=settings.max_auc_drop,
    )
    name, number, period = model.version.model, model.version.version, scored.batch.period
    report_key = layout.drift_report(dataset, period, name, number)
    storage.write_bytes(report_key, html.encode())
    verdict = MonitoringVerdict(
        dataset=dataset,
        period=period,
        model=name,
        model_version=number,
        data_version=scored.batch.version.sha256,
        summary=summary,
        decision=decision,
        live=live.headline() if live else None,
        reference_auc=reference_auc,
        report_key=report_key,
    )
    storage.write_bytes(layout.monitoring_verdict(dataset, period, name, number), verdict.to_json().encode())
    return verdict
