"""Evaluate and promote: champion vs challenger on the same holdout; the decision is recorded either way."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from driftloop.lifecycle.challenger import Challenger
from driftloop.lifecycle.evaluation import Judgement, judge_and_promote
from driftloop.lifecycle.report import promotion_markdown
from driftloop.lifecycle.runtime import Runtime
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


@task(
    name="evaluate-and-promote",
    task_run_name="evaluate v{challenger.version.version}",
    **IN_MEMORY,
)
def evaluate_task(
    runtime: Runtime, challenger: Challenger, data_period: str, champion: int | None
) -> Judgement:
    """Judge against `champion`, promote over it only (judged again if it moved), publish what is new."""
    registry = runtime.registry
    lineage = challenger.version.lineage
    earlier = registry.evaluation_against(challenger.version.version, champion)
    with runtime.clock.measure("evaluate"):
        judgement = judge_and_promote(
            registry,
            challenger,
            lambda: runtime.windows.load(list(lineage.periods), list(lineage.data_versions)),
            champion,
            runtime.models.load,
            runtime.settings.promotion,
            runtime.settings.training.calibration_bins,
            data_period,
        )
    evaluation, number = judgement.evaluation, challenger.version.version
    logger = get_run_logger()
    for replaced in judgement.superseded:
        logger.warning(
            "v%s was judged against %s, which another promotion replaced meanwhile: judged again against "
            "the new champion",
            number,
            f"v{replaced}" if replaced is not None else "no champion",
        )
    if evaluation.champion_version == number:
        logger.info("v%s is already the champion: nothing to decide", number)
        return judgement
    if evaluation == earlier:  # decided by an earlier run against the same champion: nothing new to publish
        return judgement
    decision = evaluation.decision
    logger.info(
        "v%s %s: %s",
        number,
        "PROMOTED" if judgement.promoted else "not promoted",
        "; ".join(decision.reasons),
    )
    create_markdown_artifact(
        key=artifact_key("decision", registry.model, f"v{number}"),
        markdown=promotion_markdown(number, decision),
        description="Promotion decision and its evidence",
    )
    return judgement
