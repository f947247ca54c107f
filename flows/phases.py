"""Steps that more than one flow takes, written once: ingest + gate a period, train + judge a challenger.

Plain functions that call tasks inside whichever flow is running; they are not flows themselves, so a
replay of twelve periods is one flow run, not fifty.
"""

from __future__ import annotations

from prefect import get_run_logger

from driftloop.core.records import Record
from driftloop.data.gate import GateResult, is_missing, validated_versions
from driftloop.data.windows import window_periods
from driftloop.lifecycle.runtime import Runtime
from tasks.evaluate import evaluate_task
from tasks.gate import gate_task
from tasks.ingest import ingest_task
from tasks.train import train_task


class TrainOutcome(Record):
    """What a training run produced and what was decided about it."""

    version: int
    promoted: bool
    reasons: tuple[str, ...]
    holdout_auc: float
    champion_version: int | None
    missing_periods: tuple[str, ...]


def ingest_and_gate(runtime: Runtime, period: str) -> GateResult:
    """Ingest `period` (a cache hit when the source is unchanged) and gate it; raises ContractViolation."""
    version = ingest_task(runtime, period)
    if is_missing(runtime.storage, runtime.contract, version):
        get_run_logger().warning(
            "%s: the cached data version %s is gone from the store; ingesting again", period, version.short
        )
        version = ingest_task.with_options(refresh_cache=True)(runtime, period)
    return gate_task(runtime, version)


def train_and_judge(runtime: Runtime, as_of: str, data_period: str) -> TrainOutcome:
    """Train on the validated periods of the window ending at `as_of`, then evaluate and maybe promote."""
    contract = runtime.contract
    periods = window_periods(as_of, runtime.plan.train_periods, contract.time.period)
    versions, missing = validated_versions(runtime.storage, contract, periods)
    challenger = train_task(runtime, as_of, periods, versions)
    if not runtime.registry.has(challenger.version):
        get_run_logger().warning(
            "the cached model v%s is gone from the registry; training again", challenger.version.version
        )
        challenger = train_task.with_options(refresh_cache=True)(runtime, as_of, periods, versions)
    evaluation = evaluate_task(runtime, challenger, data_period)
    champion = runtime.registry.champion()
    return TrainOutcome(
        version=challenger.version.version,
        promoted=evaluation.decision.promote,
        reasons=evaluation.decision.reasons,
        holdout_auc=challenger.holdout.auc,
        champion_version=champion.version if champion else None,
        missing_periods=tuple(missing),
    )
