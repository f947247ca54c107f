"""Monitor: drift and performance of a scored period; on drift, a Prefect event that retraining listens to."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.events import emit_event

from driftloop.monitoring import MonitoringVerdict, monitor_scored
from driftloop.runtime import Runtime
from driftloop.scoring import ScoredBatch
from tasks.artifacts import artifact_key, as_link
from tasks.options import IN_MEMORY

DRIFT_EVENT = "driftloop.drift.detected"


def verdict_markdown(verdict: MonitoringVerdict) -> str:
    """The verdict line, its reasons and the per-column table."""
    live = f"{verdict.live.auc:.4f}" if verdict.live else "n/a (no labels yet)"
    return "\n".join(
        [
            f"## {verdict.period}: {'DRIFT' if verdict.drifted else 'no drift'} "
            f"(model v{verdict.model_version})",
            "",
            *[f"- {reason}" for reason in verdict.decision.reasons],
            f"- live AUC {live}; holdout AUC at training {verdict.reference_auc:.4f}",
            f"- data version `{verdict.data_version[:16]}`",
            "",
            verdict.summary.to_markdown(),
        ]
    )


@task(
    name="monitor",
    task_run_name="monitor {scored.batch.version.period} (v{scored.model_version})",
    **IN_MEMORY,
)
def monitor_task(runtime: Runtime, scored: ScoredBatch) -> MonitoringVerdict:
    """Run Evidently against the model's reference, decide, and publish the verdict and the report."""
    model = runtime.models.load(scored.model_version)
    with runtime.clock.measure("monitor"):
        verdict = monitor_scored(
            runtime.storage,
            runtime.contract.name,
            model,
            runtime.models.reference(scored.model_version),
            scored,
            runtime.settings.drift,
        )
    get_run_logger().info(
        "%s: %s (model v%s): %s",
        verdict.period,
        "DRIFT" if verdict.drifted else "no drift",
        verdict.model_version,
        "; ".join(verdict.decision.reasons),
    )
    create_markdown_artifact(
        key=artifact_key("drift", runtime.contract.name, verdict.period),
        markdown=verdict_markdown(verdict),
        description=f"Drift verdict {verdict.period}",
    )
    create_link_artifact(
        key=artifact_key("drift-report", runtime.contract.name, verdict.period),
        link=as_link(runtime.storage.uri(verdict.report_key)),
        link_text="Evidently HTML report",
        description=f"Full Evidently report {verdict.period}",
    )
    return verdict


@task(name="emit-drift-event", **IN_MEMORY)
def emit_drift_event(runtime: Runtime, verdict: MonitoringVerdict) -> str | None:
    """Emit `driftloop.drift.detected`; a deployment trigger on it starts retraining in production."""
    event = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": f"driftloop.model.{verdict.model}",
            "prefect.resource.name": verdict.model,
        },
        related=[
            {
                "prefect.resource.id": f"driftloop.dataset.{verdict.dataset}",
                "prefect.resource.role": "dataset",
            }
        ],
        payload={
            "model": verdict.model,
            "model_version": verdict.model_version,
            "period": verdict.period,
            "drift_share": verdict.summary.drift_share,
            "reasons": list(verdict.decision.reasons),
        },
    )
    return str(event.id) if event else None
