"""Train: a challenger on a window of validated periods, registered with its lineage and model card."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import TaskRunContext

from driftloop.core.provenance import CODE_VERSION
from driftloop.data.batches import DataVersion
from driftloop.data.sources import source_fingerprint
from driftloop.lifecycle.challenger import Challenger, train_challenger, train_challenger_on_cluster
from driftloop.lifecycle.runtime import Runtime
from driftloop.modelling.features import FEATURE_CODE_VERSION
from driftloop.modelling.metrics import metric_rows
from tasks.artifacts import artifact_key
from tasks.options import CACHED_AS_JSON


def train_cache_key(_: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Key on the content hashes of the window's data versions + params + code, never on frames."""
    runtime: Runtime = parameters["runtime"]
    versions: list[DataVersion] = parameters["versions"]
    settings = runtime.settings
    return "train-" + runtime.settings_hash(
        CODE_VERSION,
        FEATURE_CODE_VERSION,
        runtime.storage.url,
        runtime.contract.fingerprint,
        source_fingerprint(runtime.contract, tables=True),
        parameters["periods"],
        [version.sha256 for version in versions],
        settings.training,
        settings.drift.sample_rows,
        settings.drift.sample_seed,
        "dask" if settings.dask.address else "local",  # where it trains changes the model
    )


@task(
    name="train",
    task_run_name="train as of {as_of}",
    cache_key_fn=train_cache_key,
    **CACHED_AS_JSON,
)
def train_task(runtime: Runtime, as_of: str, periods: list[str], versions: list[DataVersion]) -> Challenger:
    """Train, register and publish the model card and the metrics table."""
    settings = runtime.settings
    if settings.dask.address:  # the workers read the window from the store and train on it
        with runtime.clock.measure("train"):
            challenger, holdout = train_challenger_on_cluster(
                runtime.registry,
                runtime.contract,
                runtime.cluster,
                runtime.storage.url,
                periods,
                versions,
                runtime.plan,
                as_of,
                settings.training,
                settings.drift,
                runtime.source,
                progress=get_run_logger().info,
            )
        runtime.windows.remember(periods, versions, holdout)
    else:
        window = runtime.windows.load(periods, versions)
        with runtime.clock.measure("train"):
            challenger = train_challenger(
                runtime.registry,
                runtime.contract,
                window,
                as_of,
                settings.training,
                settings.drift,
                runtime.source,
                progress=get_run_logger().info,
            )
    version = challenger.version
    metrics = version.metrics
    named = [(f"fold {f.fold} ({f.valid_start[:10]}..{f.valid_end[:10]})", f.metrics) for f in metrics.folds]
    named += [("cv", metrics.cv), ("holdout", metrics.holdout), ("naive baseline", metrics.naive)]
    model = runtime.registry.model
    create_table_artifact(
        key=artifact_key("metrics", model, f"v{version.version}"),
        table=metric_rows(named),
        description=f"{model} v{version.version}: time-ordered CV and holdout metrics",
    )
    create_markdown_artifact(
        key=artifact_key("model-card", model, f"v{version.version}"),
        markdown=runtime.registry.card(version.version),
        description=f"Model card of {model} v{version.version}",
    )
    return challenger
