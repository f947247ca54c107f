"""Monitor a scored period, let the retraining policy decide, and emit the event a retraining listens to."""

from __future__ import annotations

import uuid

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from driftloop.lifecycle.monitoring import (
    MonitoringVerdict,
    ServedSummary,
    monitor_scored,
    monitored_model,
    realize,
    save_verdict,
)
from driftloop.lifecycle.policy import RetrainDecision, configured_policy, decide_once
from driftloop.lifecycle.report import retrain_markdown, verdict_markdown
from driftloop.lifecycle.retrain_requests import DriftEvent, announce, drift_event_id
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import ScoredBatch
from driftloop.lifecycle.served import served_line
from driftloop.lifecycle.step import Served
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY

DRIFT_EVENT = "driftloop.drift.detected"
# The report link in the UI: a presigned URL on S3 lasts at most 7 days (SigV4's limit).
REPORT_LINK_SECONDS = 7 * 24 * 3600


@task(
    name="monitor",
    task_run_name="monitor {scored.batch.version.period} (v{scored.model_version})",
    **IN_MEMORY,
)
def monitor_task(
    runtime: Runtime, scored: ScoredBatch, labels_known: bool, served: ServedSummary | None = None
) -> MonitoringVerdict:
    """Run every detector against the model's yardsticks; publish the verdict and the Evidently report.

    `served`: the period is the service's prediction log; the verdict, report and artifacts say so.
    """
    loaded = runtime.models.load(scored.model_version)
    model = monitored_model(runtime.registry, loaded, runtime.models.reference(scored.model_version))
    with runtime.clock.measure("monitor"):
        verdict = monitor_scored(
            runtime.storage,
            runtime.contract.name,
            model,
            scored,
            runtime.settings.drift,
            labels_known=labels_known,
            served=served,
        )
    get_run_logger().info(
        "%s (model v%s): %s",
        served_line(verdict) if served else verdict.period,
        verdict.model_version,
        "; ".join(f"{a.detector}: {a.reason}" for a in verdict.alarms) or "no alarm",
    )
    what = "monitoring-served" if served else "monitoring"
    create_markdown_artifact(
        key=artifact_key(what, runtime.contract.name, verdict.period),
        markdown=verdict_markdown(verdict),
        description=f"Monitoring verdict {verdict.period}{' (served)' if served else ''}",
    )
    if verdict.report_key:
        create_link_artifact(
            key=artifact_key(
                f"drift-report{'-served' if served else ''}", runtime.contract.name, verdict.period
            ),
            link=runtime.storage.link(verdict.report_key, REPORT_LINK_SECONDS),
            link_text="Evidently HTML report",
            description=f"Full Evidently report {verdict.period} (the link expires after 7 days)",
        )
    return verdict


@task(name="realize-labels", task_run_name="labels arrive for {served.period}", **IN_MEMORY)
def realize_task(runtime: Runtime, served: Served[int]) -> MonitoringVerdict:
    """A period's labels have arrived: record the realized AUC next to the estimate, and its error."""
    realized = realize(served.verdict, served.scored)
    save_verdict(runtime.storage, realized)
    p = realized.performance
    if p.estimate_error is not None and p.estimated is not None:
        get_run_logger().info(
            "%s: labels arrived, realized AUC %.4f vs estimated %.4f (error %+.4f)",
            served.period,
            p.realized,
            p.estimated.expected,
            p.estimate_error,
        )
    return realized


@task(name="decide-retrain", task_run_name="decide {verdict.period}", **IN_MEMORY)
def decide_task(
    runtime: Runtime,
    verdict: MonitoringVerdict,
    late: MonitoringVerdict | None,
    periods_since_training: int | None,
) -> RetrainDecision:
    """Apply the configured policy once per model and period; a rerun gets the decision on record."""
    policy = configured_policy(runtime.settings.policy, runtime.plan.train_periods)
    decision, new = decide_once(runtime.storage, verdict, late, policy, periods_since_training)
    if new:
        get_run_logger().info("%s: %s (policy %s)", verdict.period, decision.summary(), policy.describe())
        create_markdown_artifact(
            key=artifact_key("decision", runtime.contract.name, verdict.period),
            markdown=retrain_markdown(decision),
            description=f"Retraining decision {verdict.period}",
        )
    return decision


@task(name="emit-drift-event", task_run_name="emit drift event {verdict.period}", **IN_MEMORY)
def emit_drift_event(runtime: Runtime, verdict: MonitoringVerdict, decision: RetrainDecision) -> str | None:
    """Record the drift event as pending, then emit it; the automation starts one retrain on it.

    The record comes first: an event whose retrain run is cancelled (one retrain at a time) or never
    started is still in the store, and the next retrain run takes it.
    """
    event_id = drift_event_id(verdict.model, verdict.period, verdict.model_version)
    drift = DriftEvent(
        event_id=event_id,
        model=verdict.model,
        period=verdict.period,
        champion_version=verdict.model_version,
        reason="; ".join(decision.reasons),
        policy=decision.policy.name,
        alarms=decision.alarms,
        drift_index=verdict.drift.index,
    )
    announce(runtime.storage, drift, flow_run.get_id())
    event = emit_event(
        id=uuid.UUID(event_id),
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
        payload=drift.model_dump(mode="json"),
    )
    return str(event.id) if event else None
