"""Monitor: drift and performance of a scored month; on drift, a Prefect event that retraining listens to."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.events import emit_event

from driftloop.monitoring import MonitorResult, monitor_month
from driftloop.runtime import Runtime
from driftloop.scoring import score_month

DRIFT_EVENT = "driftloop.drift.detected"


def as_link(uri: str) -> str:
    """A clickable address: local paths become file:// URLs."""
    return Path(uri).as_uri() if uri.startswith("/") else uri


@task(name="monitor-month", task_run_name="monitor {month} (v{version})", retries=1, retry_delay_seconds=5)
def monitor_task(runtime: Runtime, month: str, version: int) -> MonitorResult:
    """Score the month with `version`, run Evidently against its reference, publish the summary and report."""
    model = runtime.registry.load(version)
    scored = score_month(runtime.storage, runtime.contract, runtime.tables, model, month)
    result = monitor_month(runtime.storage, runtime.registry, model.spec, scored, runtime.settings.drift)
    verdict = "DRIFT" if result.decision.drifted else "no drift"
    live = f"{result.live.auc:.4f}" if result.live else "n/a (no labels yet)"
    markdown = "\n".join(
        [
            f"## {scored.month}: {verdict} (model v{scored.model_version})",
            "",
            *[f"- {reason}" for reason in result.decision.reasons],
            f"- live AUC {live}; holdout AUC at training {result.reference_auc:.4f}",
            "",
            result.summary.to_markdown(),
        ]
    )
    slug = f"{runtime.contract.name}-{scored.month}".lower()
    create_markdown_artifact(
        key=f"drift-{slug}", markdown=markdown, description=f"Drift summary {scored.month}"
    )
    create_link_artifact(
        key=f"drift-report-{slug}",
        link=as_link(runtime.storage.uri(result.report_key)),
        link_text="Evidently HTML report",
        description=f"Full Evidently report {scored.month}",
    )
    return result


@task(name="emit-drift-event", retries=2, retry_delay_seconds=[1, 5])
def emit_drift_event(runtime: Runtime, result: MonitorResult) -> str | None:
    """Emit `driftloop.drift.detected`; a deployment trigger on it starts retraining in production."""
    event = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": f"driftloop.model.{runtime.registry.model}",
            "prefect.resource.name": runtime.registry.model,
        },
        related=[
            {
                "prefect.resource.id": f"driftloop.dataset.{runtime.contract.name}",
                "prefect.resource.role": "dataset",
            }
        ],
        payload={
            "model": runtime.registry.model,
            "model_version": result.model_version,
            "month": result.month,
            "drift_share": result.summary.drift_share,
            "reasons": list(result.decision.reasons),
        },
    )
    return str(event.id) if event else None
