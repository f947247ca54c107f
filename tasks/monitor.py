"""Monitor a scored period, let the retraining policy decide, and emit the event a retraining listens to."""

from __future__ import annotations

import uuid

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from driftloop.core import layout
from driftloop.core.periods import period_range
from driftloop.core.storage import PreconditionFailed, read_if_exists
from driftloop.core.tables import markdown_table
from driftloop.lifecycle.monitoring import MonitoringVerdict, monitor_scored, monitored_model, realize
from driftloop.lifecycle.policy import RetrainDecision, configured_policy, decide_with_late_labels
from driftloop.lifecycle.retrain_requests import DriftEvent, announce, drift_event_id
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import ScoredBatch
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY

DRIFT_EVENT = "driftloop.drift.detected"
# The report link in the UI: a presigned URL on S3 lasts at most 7 days (SigV4's limit).
REPORT_LINK_SECONDS = 7 * 24 * 3600


def verdict_markdown(verdict: MonitoringVerdict) -> str:
    """Alarms first, then each detector's numbers: performance, calibrated drift, breakage, attribution."""
    p = verdict.performance
    estimated = (
        f"{p.estimated.expected:.4f} [{p.estimated.low:.4f}, {p.estimated.high:.4f}]" if p.estimated else "-"
    )
    realized = f"{p.realized:.4f}" if p.realized is not None else "labels not known yet"
    error = f" (estimate error {p.estimate_error:+.4f})" if p.estimate_error is not None else ""
    drift = verdict.drift
    calibrated = "thresholds calibrated per column" if drift.calibrated else "fixed threshold: no calibration"
    drift_rows = [
        {
            "column": c.column,
            "score": round(c.score, 4),
            "threshold": round(c.threshold, 4),
            "weight": round(c.weight, 3),
            "drifted": "**yes**" if c.drifted else "no",
        }
        for c in sorted(drift.columns, key=lambda c: (-c.drifted, -c.weight))
    ]
    attribution = [
        {
            "feature": a.column,
            "training": round(a.reference, 4),
            "now": round(a.current, 4),
            "change": f"{a.change:+.0%}",
        }
        for a in sorted(verdict.attribution, key=lambda a: -abs(a.current - a.reference))[:8]
    ]
    alarms = [f"- **{a.detector}**: {a.reason}" for a in verdict.alarms] or ["- none"]
    return "\n".join(
        [
            f"## {verdict.period}: model v{verdict.model_version}, {len(verdict.alarms)} alarm(s)",
            "",
            *alarms,
            "",
            f"**Performance**: realized AUC {realized}; estimated {estimated}{error}; floor {p.floor:.4f} "
            f"(holdout AUC {p.holdout_auc:.4f} minus the 95% noise of the holdout and of this period).",
            "",
            f"**Drift** ({calibrated}): importance-weighted index {drift.index:.2f} (alarm at "
            f"{drift.index_threshold:g}); drifted features carry {drift.weighted_share:.0%} of the model's "
            f"attribution. Statistics on {verdict.sampled_rows:,} of "
            f"{verdict.rows:,} rows (fixed-seed sample).",
            "",
            markdown_table(drift_rows),
            "",
            "**Breakage**: " + ("; ".join(b.detail for b in verdict.breakage) or "none"),
            "",
            "**Attribution** (mean |contribution|, largest changes):",
            "",
            markdown_table(attribution),
            "",
            f"Fixed rule (for comparison): {'; '.join(verdict.decision.reasons)}",
            "",
            f"Data version `{verdict.data_version[:16]}`",
        ]
    )


@task(
    name="monitor",
    task_run_name="monitor {scored.batch.version.period} (v{scored.model_version})",
    **IN_MEMORY,
)
def monitor_task(runtime: Runtime, scored: ScoredBatch) -> MonitoringVerdict:
    """Run every detector against the model's baseline; publish the verdict and the Evidently report."""
    loaded = runtime.models.load(scored.model_version)
    model = monitored_model(runtime.registry, loaded, runtime.models.reference(scored.model_version))
    with runtime.clock.measure("monitor"):
        verdict = monitor_scored(
            runtime.storage,
            runtime.contract.name,
            model,
            scored,
            runtime.settings.drift,
            labels_known=runtime.contract.target.label_delay == 0,
        )
    get_run_logger().info(
        "%s (model v%s): %s",
        verdict.period,
        verdict.model_version,
        "; ".join(f"{a.detector}: {a.reason}" for a in verdict.alarms) or "no alarm",
    )
    create_markdown_artifact(
        key=artifact_key("monitoring", runtime.contract.name, verdict.period),
        markdown=verdict_markdown(verdict),
        description=f"Monitoring verdict {verdict.period}",
    )
    if verdict.report_key:
        create_link_artifact(
            key=artifact_key("drift-report", runtime.contract.name, verdict.period),
            link=runtime.storage.link(verdict.report_key, REPORT_LINK_SECONDS),
            link_text="Evidently HTML report",
            description=f"Full Evidently report {verdict.period} (the link expires after 7 days)",
        )
    return verdict


@task(name="realize-labels", task_run_name="labels arrive for {scored.batch.version.period}", **IN_MEMORY)
def realize_task(runtime: Runtime, verdict: MonitoringVerdict, scored: ScoredBatch) -> MonitoringVerdict:
    """A period's labels have arrived: record the realized AUC next to the estimate, and its error."""
    realized = realize(verdict, scored)
    key = layout.monitoring_verdict(
        runtime.contract.name, verdict.period, verdict.model, verdict.model_version
    )
    runtime.storage.write_bytes(key, realized.to_json().encode())
    p = realized.performance
    if p.estimate_error is not None and p.estimated is not None:
        get_run_logger().info(
            "%s: labels arrived, realized AUC %.4f vs estimated %.4f (error %+.4f)",
            verdict.period,
            p.realized,
            p.estimated.expected,
            p.estimate_error,
        )
    return realized


def _periods_since_training(runtime: Runtime, period: str) -> int | None:
    versions = runtime.registry.versions()
    if not versions:
        return None
    last = max(version.lineage.as_of for version in versions)
    return len(period_range(last, period, runtime.contract.time.period)) - 1 if last <= period else 0


@task(name="decide-retrain", task_run_name="decide {verdict.period}", **IN_MEMORY)
def decide_task(
    runtime: Runtime, verdict: MonitoringVerdict, late: MonitoringVerdict | None = None
) -> RetrainDecision:
    """Apply the configured policy once per model and period; a rerun gets the decision on record."""
    key = layout.retrain_decision(runtime.contract.name, verdict.period, verdict.model)
    recorded = read_if_exists(runtime.storage, key)
    if recorded is not None:
        return RetrainDecision.from_json(recorded)
    policy = configured_policy(runtime.settings.policy, runtime.plan.train_periods)
    since = _periods_since_training(runtime, verdict.period)
    decision = decide_with_late_labels(verdict, late, policy, since)
    try:
        runtime.storage.write_bytes(key, decision.to_json().encode(), if_absent=True)
    except PreconditionFailed:  # another run decided this period first: its decision stands
        return RetrainDecision.from_json(runtime.storage.read_bytes(key))
    get_run_logger().info("%s: %s (policy %s)", verdict.period, decision.summary(), policy.describe())
    create_markdown_artifact(
        key=artifact_key("decision", runtime.contract.name, verdict.period),
        markdown=f"## {verdict.period}: {'RETRAIN' if decision.retrain else 'no retrain'}\n\n"
        f"Policy: {policy.describe()}\n\n" + "\n".join(f"- {reason}" for reason in decision.reasons),
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
        payload={
            "model": verdict.model,
            "model_version": verdict.model_version,
            "period": verdict.period,
            "policy": decision.policy.name,
            "alarms": list(decision.alarms),
            "reasons": list(decision.reasons),
            "drift_index": verdict.drift.index,
            "event_id": event_id,
        },
    )
    return str(event.id) if event else None
