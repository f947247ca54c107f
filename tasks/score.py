"""Batch score: a validated period, enriched once, scored by a registered model; predictions stored."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from driftloop.data.batches import read_batch
from driftloop.data.gate import GateResult
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import (
    EnrichedBatch,
    ScoredBatch,
    enrich_batch,
    score_batch,
    write_predictions,
)
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


@task(
    name="enrich",
    task_run_name="enrich {gate.version.period}",
    **IN_MEMORY,
)
def enrich_task(runtime: Runtime, gate: GateResult) -> EnrichedBatch:
    """Join the reference tables once; the batch is read only if the gate did not already hold it."""
    frame = gate.frame if gate.frame is not None else read_batch(runtime.storage, gate.version)
    with runtime.clock.measure("features"):
        batch = enrich_batch(gate.version, frame, runtime.contract, runtime.tables)
    runtime.remember_enriched(gate.version.sha256, batch.frame)
    return batch


@task(
    name="score",
    task_run_name="score {batch.version.period} with v{version}",
    **IN_MEMORY,
)
def score_task(runtime: Runtime, batch: EnrichedBatch, version: int, store: bool = True) -> ScoredBatch:
    """Score with model `version`; store the predictions (unless `store` is off) and publish counts."""
    model = runtime.models.load(version)
    with runtime.clock.measure("score"):
        scored = score_batch(batch, model.booster, model.spec, version)
    if not store:
        return scored
    key = write_predictions(runtime.storage, runtime.contract, scored, runtime.registry.model)
    metrics = scored.metrics
    create_table_artifact(
        key=artifact_key("predictions", runtime.contract.name, batch.period),
        table=[
            {
                "period": batch.period,
                "model_version": version,
                "data_version": batch.version.short,
                "rows": len(scored.prediction),
                "mean_prediction": round(float(scored.prediction.mean()), 4),
                "auc": round(metrics.auc, 4) if metrics else None,
                "uri": runtime.storage.uri(key),
            }
        ],
        description=f"Predictions for {batch.period}",
    )
    return scored
