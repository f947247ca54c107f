"""Batch score: a validated month scored by a registered model; predictions stored with the version."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from driftloop.runtime import Runtime
from driftloop.scoring import ScoredMonth, score_month, write_predictions


@task(
    name="score-original-model",
    task_run_name="original v{version} on {month}",
    retries=2,
    retry_delay_seconds=[1, 5],
)
def original_model_auc(runtime: Runtime, month: str, version: int) -> float | None:
    """AUC a given (e.g. the first) model would have had on `month`: the cost of never retraining."""
    scored = score_month(
        runtime.storage, runtime.contract, runtime.tables, runtime.registry.load(version), month
    )
    metrics = scored.metrics()
    return metrics.auc if metrics else None


@task(
    name="score-month", task_run_name="score {month} with v{version}", retries=2, retry_delay_seconds=[1, 5]
)
def score_task(runtime: Runtime, month: str, version: int) -> ScoredMonth:
    """Score, store the predictions, and publish counts and live metrics when labels exist."""
    model = runtime.registry.load(version)
    scored = score_month(runtime.storage, runtime.contract, runtime.tables, model, month)
    key = write_predictions(runtime.storage, runtime.contract, scored, runtime.registry.model)
    metrics = scored.metrics()
    create_table_artifact(
        key=f"predictions-{runtime.contract.name}-{month}".lower(),
        table=[
            {
                "month": month,
                "model_version": version,
                "rows": len(scored.prediction),
                "mean_prediction": round(float(scored.prediction.mean()), 4),
                "auc": round(metrics.auc, 4) if metrics else None,
                "uri": runtime.storage.uri(key),
            }
        ],
        description=f"Predictions for {month}",
    )
    return scored
