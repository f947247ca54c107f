"""Evaluate and promote: champion vs challenger on the same holdout; the decision is recorded either way."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from driftloop.core.tables import markdown_table
from driftloop.lifecycle.challenger import Challenger
from driftloop.lifecycle.evaluation import evaluate_challenger, promote_if_better
from driftloop.lifecycle.runtime import Runtime
from driftloop.modelling.metrics import metric_rows
from driftloop.modelling.promotion import PromotionDecision
from driftloop.registry import Evaluation
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


def decision_markdown(version: int, decision: PromotionDecision) -> str:
    """The verdict, one line per reason, and the three models' metrics on the holdout."""
    named = [("challenger", decision.challenger)]
    named += [("champion", decision.champion)] if decision.champion is not None else []
    named += [("naive baseline", decision.baseline)]
    return "\n".join(
        [
            f"## {'PROMOTED' if decision.promote else 'not promoted'}: v{version}",
            "",
            *[f"- {reason}" for reason in decision.reasons],
            "",
            markdown_table(metric_rows(named)),
        ]
    )


@task(
    name="evaluate-and-promote",
    task_run_name="evaluate v{challenger.version.version}",
    **IN_MEMORY,
)
def evaluate_task(runtime: Runtime, challenger: Challenger, data_period: str) -> Evaluation:
    """Decide on evidence, record it, promote if it says so, and publish a decision that is new."""
    registry = runtime.registry
    champion_version = registry.champion()
    champion = runtime.models.load(champion_version.version) if champion_version else None
    lineage = challenger.version.lineage
    earlier = registry.evaluation(challenger.version.version)
    with runtime.clock.measure("evaluate"):
        evaluation = evaluate_challenger(
            registry,
            challenger,
            lambda: runtime.windows.load(list(lineage.periods), list(lineage.data_versions)),
            champion,
            runtime.settings.promotion,
            runtime.settings.training.calibration_bins,
        )
        promote_if_better(registry, challenger, evaluation.decision, data_period)
    decision = evaluation.decision
    if champion_version is not None and champion_version.version == challenger.version.version:
        get_run_logger().info("v%s is already the champion: nothing to decide", champion_version.version)
        return evaluation
    if evaluation == earlier:  # decided by an earlier run against the same champion: nothing new to publish
        return evaluation
    get_run_logger().info(
        "v%s %s: %s",
        challenger.version.version,
        "PROMOTED" if decision.promote else "not promoted",
        "; ".join(decision.reasons),
    )
    create_markdown_artifact(
        key=artifact_key("decision", registry.model, f"v{challenger.version.version}"),
        markdown=decision_markdown(challenger.version.version, decision),
        description="Promotion decision and its evidence",
    )
    return evaluation
