"""Batch score: score a validated month with the champion (or a given version)."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from driftloop.data import check_month
from driftloop.runtime import open_runtime
from driftloop.scoring import predictions_key
from driftloop.settings import Settings
from tasks.score import score_task


class ScoreOutcome(BaseModel):
    month: str
    model_version: int
    rows: int
    predictions: str
    auc: float | None


@flow(name="score", flow_run_name="score {month}")
def score_flow(month: str, version: int | None = None, settings: Settings | None = None) -> ScoreOutcome:
    """Score `month` and store predictions with the model version."""
    runtime = open_runtime(settings)
    if version is None:
        champion = runtime.registry.champion()
        if champion is None:
            raise LookupError(f"{runtime.registry.model} has no champion yet: run `driftloop train` first")
        version = champion.version
    scored = score_task(runtime, check_month(month), version)
    metrics = scored.metrics()
    key = predictions_key(runtime.contract, month, runtime.registry.model, version)
    return ScoreOutcome(
        month=month,
        model_version=version,
        rows=len(scored.prediction),
        predictions=runtime.storage.uri(key),
        auc=metrics.auc if metrics else None,
    )
