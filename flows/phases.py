"""Steps that more than one flow takes, written once: ingest + gate a period, train + judge a challenger, and
the period step (`driftloop.lifecycle.step`) done through tasks.

Plain functions and a plain class that call tasks inside whichever flow is running; they are not flows
themselves, so a replay of twelve periods is one flow run, not fifty.
"""

from __future__ import annotations

from prefect import get_run_logger

from driftloop.core.records import Record
from driftloop.data.batches import NoDataForPeriod
from driftloop.data.gate import ContractViolation, GateResult, is_missing, validated_versions
from driftloop.data.windows import window_periods
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.policy import RetrainDecision
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import ScoredBatch
from driftloop.lifecycle.step import Blocked, Retrained, Served
from tasks.evaluate import evaluate_task
from tasks.gate import gate_task
from tasks.ingest import ingest_task
from tasks.monitor import decide_task, monitor_task, realize_task
from tasks.prepare import PreparedPeriod
from tasks.score import enrich_task, score_task
from tasks.train import train_task


class TrainOutcome(Record):
    """What a training run produced and what was decided about it."""

    version: int
    promoted: bool
    reasons: tuple[str, ...]
    holdout_auc: float
    champion_version: int | None  # the champion after the judgement
    missing_periods: tuple[str, ...]


def ingest_and_gate(runtime: Runtime, period: str, prepared: PreparedPeriod | None = None) -> GateResult:
    """Ingest `period` (a cache hit when the source is unchanged) and gate it; raises ContractViolation.

    A version a cluster already ingested and validated (`flows.fanout`) is taken as it is: its gate then
    finds it validated, and nothing is read again.
    """
    version = prepared.gate() if prepared is not None else ingest_task(runtime, period)
    if is_missing(runtime.storage, runtime.contract, version):
        get_run_logger().warning(
            "%s: the cached data version %s is gone from the store; ingesting again", period, version.short
        )
        version = ingest_task.with_options(refresh_cache=True)(runtime, period)
    return gate_task(runtime, version)


def ingest_window(runtime: Runtime, as_of: str) -> None:
    """Ingest and gate the training window ending at `as_of` (a cache hit for a period already ingested):
    a training learns from the periods that pass; one the gate blocks, or the source does not hold yet, is
    named in the log and left out (the model's lineage lists it as missing)."""
    contract = runtime.contract
    for period in window_periods(as_of, runtime.plan.train_periods, contract.time.period):
        try:
            ingest_and_gate(runtime, period)
        except ContractViolation as violation:
            get_run_logger().warning("%s blocked at the gate; training without it.\n%s", period, violation)
        except NoDataForPeriod as missing:
            get_run_logger().warning("%s: training without it (%s)", period, missing)


def train_and_judge(runtime: Runtime, as_of: str, data_period: str, champion: int | None) -> TrainOutcome:
    """Train on the validated periods of the window ending at `as_of`, then judge it against `champion`.

    The promotion happens only while `champion` is still the champion; if another promotion came first,
    the challenger is judged again against the new one (see `driftloop.lifecycle.evaluation`).
    """
    contract = runtime.contract
    periods = window_periods(as_of, runtime.plan.train_periods, contract.time.period)
    versions, missing = validated_versions(runtime.storage, contract, periods)
    challenger = train_task(runtime, as_of, periods, versions)
    if not runtime.registry.has(challenger.version):
        get_run_logger().warning(
            "the cached model v%s is gone from the registry; training again", challenger.version.version
        )
        challenger = train_task.with_options(refresh_cache=True)(runtime, as_of, periods, versions)
    judgement = evaluate_task(runtime, challenger, data_period, champion)
    return TrainOutcome(
        version=challenger.version.version,
        promoted=judgement.promoted,
        reasons=judgement.evaluation.decision.reasons,
        holdout_auc=challenger.holdout.auc,
        champion_version=judgement.champion,
        missing_periods=tuple(missing),
    )


class TaskSteps:
    """The period step through Prefect tasks: every part stored and published; models named by version."""

    def __init__(self, runtime: Runtime, prepared: dict[str, PreparedPeriod] | None = None) -> None:
        self.runtime = runtime
        self.prepared = prepared or {}  # periods a cluster already ingested and gated

    def name(self, model: int) -> str:
        return f"v{model}"

    def observe(self, period: str, champion: int) -> ScoredBatch | Blocked:
        runtime = self.runtime
        try:
            gate = ingest_and_gate(runtime, period, self.prepared.get(period))
        except ContractViolation as violation:
            get_run_logger().warning("%s blocked at the gate; champion unchanged.\n%s", period, violation)
            return Blocked("quarantined by the gate", violation)
        return score_task(runtime, enrich_task(runtime, gate), champion)

    def assess(self, champion: int, scored: ScoredBatch, labels_known: bool) -> MonitoringVerdict:
        return monitor_task(self.runtime, scored, labels_known)

    def realize(self, served: Served[int]) -> MonitoringVerdict:
        return realize_task(self.runtime, served)

    def decide(
        self, verdict: MonitoringVerdict, late: MonitoringVerdict | None, periods_since_training: int | None
    ) -> RetrainDecision:
        return decide_task(self.runtime, verdict, late, periods_since_training)

    def retrain(self, period: str, champion: int) -> Retrained[int] | None:
        outcome = train_and_judge(self.runtime, as_of=period, data_period=period, champion=champion)
        return Retrained(
            challenger=outcome.version,
            champion=outcome.champion_version if outcome.champion_version is not None else champion,
            promoted=outcome.promoted,
            reason=outcome.reasons[-1],
        )
