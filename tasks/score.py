"""Batch score: a validated period, enriched once, scored by a registered model; predictions stored."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext

from driftloop.core import layout
from driftloop.core.provenance import CODE_VERSION
from driftloop.core.records import Record
from driftloop.data.batches import read_batch
from driftloop.data.gate import GateResult
from driftloop.data.sources import source_fingerprint
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import (
    EnrichedBatch,
    ScoredBatch,
    enrich_batch,
    score_batch,
    write_predictions,
)
from tasks.artifacts import artifact_key
from tasks.options import CACHED_AS_JSON, IN_MEMORY


class ScoreOutcome(Record):
    """A period scored by one model: where its predictions are, and its AUC where labels are known."""

    period: str
    model_version: int
    data_version: str
    rows: int
    predictions: str
    auc: float | None


def _enrich(runtime: Runtime, gate: GateResult) -> EnrichedBatch:
    """Join the reference tables once; the batch is read only if the gate did not already hold it."""
    frame = gate.frame if gate.frame is not None else read_batch(runtime.storage, gate.version)
    with runtime.clock.measure("features"):
        batch = enrich_batch(gate.version, frame, runtime.contract, runtime.tables)
    runtime.remember_enriched(gate.version.sha256, batch.frame)
    return batch


def _score(runtime: Runtime, batch: EnrichedBatch, version: int, store: bool) -> ScoredBatch:
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


enrich_task = task(name="enrich", task_run_name="enrich {gate.version.period}", **IN_MEMORY)(_enrich)


@task(name="score", task_run_name="score {batch.version.period} with v{version}", **IN_MEMORY)
def score_task(runtime: Runtime, batch: EnrichedBatch, version: int, store: bool = True) -> ScoredBatch:
    """Score an enriched batch that the flow also monitors: the frames stay in memory."""
    return _score(runtime, batch, version, store)


def score_period_cache_key(_: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The same data version, reference tables and model bytes into the same store: the same predictions."""
    runtime: Runtime = parameters["runtime"]
    version: int = parameters["version"]
    return "score-" + runtime.settings_hash(
        CODE_VERSION,
        runtime.storage.url,
        runtime.contract.fingerprint,
        parameters["gate"].version.sha256,
        source_fingerprint(runtime.contract, tables=True),  # the joins feed the features
        runtime.registry.get(version).model_sha256,
        version,
    )


@task(
    name="score period",
    task_run_name="score {gate.version.period} with v{version}",
    cache_key_fn=score_period_cache_key,
    **CACHED_AS_JSON,
)
def score_period_task(runtime: Runtime, gate: GateResult, version: int) -> ScoreOutcome:
    """Enrich, score and store a gated period in one task: scoring it again is a cache hit."""
    scored = _score(runtime, _enrich(runtime, gate), version, store=True)
    metrics = scored.metrics
    key = layout.predictions(runtime.contract.name, gate.version.period, runtime.registry.model, version)
    return ScoreOutcome(
        period=gate.version.period,
        model_version=version,
        data_version=gate.version.sha256,
        rows=len(scored.prediction),
        predictions=runtime.storage.uri(key),
        auc=metrics.auc if metrics else None,
    )
