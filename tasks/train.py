"""Train: a challenger on a window of validated months, registered with its lineage and model card."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import TaskRunContext

from driftloop.batches import validated_versions
from driftloop.features import FEATURE_CODE_VERSION
from driftloop.modeling import CODE_VERSION, Challenger, train_challenger, window_months
from driftloop.runtime import Runtime


def train_cache_key(_: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Key on the content hashes of the window's validated data versions + params + code, never on frames."""
    runtime: Runtime = parameters["runtime"]
    settings = runtime.settings
    months = window_months(parameters["as_of"], settings.training.window_months)
    versions, _ = validated_versions(runtime.storage, runtime.contract, months)
    data_hashes = [version.sha256 for version in versions]
    return "train-" + runtime.settings_hash(
        CODE_VERSION,
        FEATURE_CODE_VERSION,
        runtime.storage.url,
        runtime.contract.fingerprint,
        data_hashes,
        settings.training,
        settings.drift.sample_rows,
        settings.drift.sample_seed,
    )


@task(
    name="train-challenger",
    task_run_name="train as of {as_of}",
    cache_key_fn=train_cache_key,
    result_serializer="json",
    persist_result=True,
    retries=1,
    retry_delay_seconds=5,
)
def train_task(runtime: Runtime, as_of: str) -> Challenger:
    """Train, register and publish the model card and per-fold metrics."""
    challenger = train_challenger(
        runtime.storage,
        runtime.registry,
        runtime.contract,
        runtime.tables,
        as_of,
        runtime.settings.training,
        runtime.settings.drift,
    )
    version = challenger.version
    folds = version.metrics["folds"]
    rows = [
        {
            "set": f"fold {fold['fold']}",
            "validation": f"{fold['valid_start'][:10]}..{fold['valid_end'][:10]}",
            "rows": fold["valid_rows"],
            "auc": round(fold["metrics"]["auc"], 4),
            "log_loss": round(fold["metrics"]["log_loss"], 4),
            "brier": round(fold["metrics"]["brier"], 4),
            "ece": round(fold["metrics"]["ece"], 4),
        }
        for fold in folds
    ]
    for name in ("cv", "holdout", "baseline"):
        metrics = version.metrics[name]
        rows.append(
            {
                "set": name,
                "validation": "",
                "rows": metrics["rows"],
                "auc": round(metrics["auc"], 4),
                "log_loss": round(metrics["log_loss"], 4),
                "brier": round(metrics["brier"], 4),
                "ece": round(metrics["ece"], 4),
            }
        )
    model = runtime.registry.model
    create_table_artifact(
        key=f"metrics-{model}-v{version.version}",
        table=rows,
        description=f"{model} v{version.version}: time-ordered CV and holdout metrics",
    )
    create_markdown_artifact(
        key=f"model-card-{model}-v{version.version}",
        markdown=runtime.registry.card(version.version),
        description=f"Model card of {model} v{version.version}",
    )
    return challenger
