"""Evaluate and promote: champion vs challenger on the same holdout; the decision is recorded either way."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from driftloop.modeling import Challenger, evaluate_against_champion, promote_if_better
from driftloop.promotion import PromotionDecision
from driftloop.runtime import Runtime


def decision_markdown(version: int, decision: PromotionDecision) -> str:
    lines = [
        f"## {'PROMOTED' if decision.promote else 'not promoted'}: v{version}",
        "",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "| model | AUC | log loss | Brier | ECE |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, metrics in (
        ("challenger", decision.challenger),
        ("champion", decision.champion),
        ("naive baseline", decision.baseline),
    ):
        if metrics is not None:
            values = (metrics.auc, metrics.log_loss, metrics.brier, metrics.ece)
            lines.append(f"| {name} | " + " | ".join(f"{value:.4f}" for value in values) + " |")
    return "\n".join(lines)


@task(
    name="evaluate-and-promote",
    task_run_name="evaluate v{challenger.version.version}",
    retries=1,
    retry_delay_seconds=5,
)
def evaluate_task(runtime: Runtime, challenger: Challenger, data_month: str) -> PromotionDecision:
    """Decide on evidence, record it, promote if it says so, and publish the decision."""
    settings = runtime.settings
    decision = evaluate_against_champion(
        runtime.storage,
        runtime.registry,
        runtime.contract,
        runtime.tables,
        challenger,
        settings.promotion,
        settings.training,
    )
    promote_if_better(runtime.registry, challenger, decision, data_month)
    create_markdown_artifact(
        key=f"decision-{runtime.registry.model}-v{challenger.version.version}",
        markdown=decision_markdown(challenger.version.version, decision),
        description="Promotion decision and its evidence",
    )
    return decision
