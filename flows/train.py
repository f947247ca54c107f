"""Train + evaluate + promote: a challenger on the window ending at `as_of`, promoted only on evidence."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from driftloop.data import check_month
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from tasks.evaluate import evaluate_task
from tasks.train import train_task


class TrainOutcome(BaseModel):
    """What a training run produced and what was decided about it."""

    version: int
    promoted: bool
    reasons: list[str]
    holdout_auc: float
    champion_version: int | None


@flow(name="train", flow_run_name="train as of {as_of}")
def train_flow(as_of: str, settings: Settings | None = None) -> TrainOutcome:
    """Train on validated months up to `as_of`, evaluate against the champion and promote if better."""
    runtime = open_runtime(settings)
    challenger = train_task(runtime, check_month(as_of))
    decision = evaluate_task(runtime, challenger, as_of)
    champion = runtime.registry.champion()
    return TrainOutcome(
        version=challenger.version.version,
        promoted=decision.promote,
        reasons=list(decision.reasons),
        holdout_auc=challenger.holdout.auc,
        champion_version=champion.version if champion else None,
    )
