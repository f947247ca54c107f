"""Promote a challenger that awaited a live shadow comparison, on what the service's shadow scored."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from driftloop.lifecycle.evaluation import judge_live_shadow
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.runtime import Runtime
from driftloop.modelling.promotion import LiveShadowDecision
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


def _markdown(decision: LiveShadowDecision) -> str:
    """The live decision in the challenger's decision artifact: the verdict, the reason, the numbers."""

    def auc(value: float | None) -> str:
        return f"{value:.4f}" if value is not None else "-"

    head = "PROMOTED" if decision.promote else "not promoted"
    return "\n".join(
        [
            f"## {head} on live shadow traffic: v{decision.challenger} ({decision.period})",
            "",
            f"- {decision.reason}",
            "",
            "| model | AUC on the labelled served rows both scored |",
            "|---|---:|",
            f"| champion v{decision.champion} | {auc(decision.champion_auc)} |",
            f"| shadow v{decision.challenger} | {auc(decision.challenger_auc)} |",
            "",
            f"{decision.rows:,} labelled served rows.",
        ]
    )


@task(
    name="judge-live-shadow",
    task_run_name="live shadow {verdict.period} (v{verdict.model_version})",
    **IN_MEMORY,
)
def judge_live_shadow_task(runtime: Runtime, verdict: MonitoringVerdict) -> LiveShadowDecision:
    """Promote the challenger awaiting a live comparison if it beat the champion on the served rows."""
    if verdict.served is None:
        raise ValueError("a live shadow comparison needs a verdict on served predictions")
    registry = runtime.registry
    decision = judge_live_shadow(
        registry, verdict.served, verdict.model_version, verdict.period, runtime.settings.promotion
    )
    logger = get_run_logger()
    if decision.challenger is None:
        logger.info("%s: %s", verdict.period, decision.reason)
        return decision
    logger.info(
        "v%s %s: %s", decision.challenger, "PROMOTED" if decision.promote else "not promoted", decision.reason
    )
    create_markdown_artifact(
        key=artifact_key("decision", registry.model, f"v{decision.challenger}"),
        markdown=_markdown(decision),
        description=f"Live shadow decision on v{decision.challenger} ({verdict.period})",
    )
    return decision
