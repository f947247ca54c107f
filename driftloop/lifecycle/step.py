"""One period of the loop, the same for every caller: observe, assess, realize late labels, decide, retrain.

The main job's replay (`flows/lifecycle.py`), the backtest (`driftloop/replay/backtest`) and scheduled
monitoring (`flows/monitor.py`) all step through periods with `run_period`. What differs between them is how
each part is done, which they supply as `PeriodSteps`: the flows through Prefect tasks that store and
publish, the backtest through memoised in-memory steps shared by its policies. A caller that observes
a period differently (live traffic: the prediction log instead of a batch) supplies its own `observe`.

`run_period` takes what the previous period left (`LoopState`) and returns the next state instead of
changing anything it was given, so a caller can replay, branch or resume from any period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from pydantic import AliasChoices, Field

from driftloop.core.periods import PeriodKind, period_range, shift_period
from driftloop.core.records import Record
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.policy import RetrainDecision
from driftloop.lifecycle.scoring import ScoredBatch

Model = TypeVar("Model")  # how a caller names a model: a registry version number, a backtest candidate


class PeriodOutcome(Record):
    """One period as a replay or a backtest reports it: who served, how it did, what was decided."""

    period: str = Field(validation_alias=AliasChoices("period", "month"))
    status: Literal["ok", "blocked"]  # blocked: the gate quarantined the batch; the champion stays
    champion: str  # the model that served: "v3" in a replay, its window's last period in a backtest
    champion_auc: float | None  # its realized AUC on the period (hindsight: shown even before labels count)
    original_auc: float | None = None  # what the first model would have scored (the replay's comparison)
    estimated_auc: float | None = None  # what the champion's calibrated probabilities promised, label-free
    drift_index: float | None = None
    drifted: bool = False  # the drift index reached its alarm threshold (older records: or prediction drift)
    prediction_drifted: bool = False  # the prediction's distribution moved beyond its calibrated threshold
    alarms: tuple[str, ...] = ()  # the policy's triggers that fired
    retrained: bool = False
    promoted: bool = False
    new_champion: str | None = None
    why: str | None = None  # the alarms, or why the period was blocked, in a few words
    reasons: tuple[str, ...] = ()  # the decision's reasons, then what the retraining found
    served_by: str | None = None  # live replay: the versions that answered the period's requests ("v2")
    failed_requests: int | None = None  # live replay: requests that got no answer or a 5xx

    @property
    def alarmed(self) -> bool:
        return bool(self.alarms)


@dataclass(frozen=True)
class Blocked:
    """A period that could not be observed (its batch was quarantined): nothing is scored or decided."""

    reason: str
    cause: Exception | None = None  # what blocked it, for a caller that must report it (a single period)


@dataclass(frozen=True)
class Retrained(Generic[Model]):
    """What a retraining at a period produced and what was decided about it."""

    challenger: Model
    champion: Model  # the champion after the judgement: the challenger when promoted
    promoted: bool
    reason: str  # the judgement's deciding reason


@dataclass(frozen=True)
class Served(Generic[Model]):
    """A period whose labels have not arrived yet: who served it and what monitoring saw."""

    period: str
    model: Model
    verdict: MonitoringVerdict
    scored: ScoredBatch


@dataclass(frozen=True)
class LoopState(Generic[Model]):
    """What one period leaves for the next."""

    champion: Model
    last_training: str | None  # the window end of the newest training; None before any
    awaiting: tuple[Served[Model], ...] = ()  # served periods whose labels are still to come


@dataclass(frozen=True)
class StepResult(Generic[Model]):
    """A period's outcome, the state it leaves, and what monitoring saw (for callers that publish it)."""

    outcome: PeriodOutcome
    state: LoopState[Model]
    blocked: Blocked | None = None
    scored: ScoredBatch | None = None  # None when blocked
    verdict: MonitoringVerdict | None = None
    decision: RetrainDecision | None = None
    retrained: Retrained[Model] | None = None


class PeriodSteps(Protocol[Model]):
    """How one caller does each part of a period; `run_period` decides the order and what follows."""

    def name(self, model: Model) -> str:
        """How tables name the model ("v3", "2013-03")."""
        ...

    def observe(self, period: str, champion: Model) -> ScoredBatch | Blocked:
        """The period's rows scored by the champion, or why they cannot be."""
        ...

    def assess(self, champion: Model, scored: ScoredBatch, labels_known: bool) -> MonitoringVerdict:
        """Every detector on the scored period."""
        ...

    def realize(self, served: Served[Model]) -> MonitoringVerdict:
        """An earlier period's verdict once its labels have arrived."""
        ...

    def decide(
        self, verdict: MonitoringVerdict, late: MonitoringVerdict | None, periods_since_training: int | None
    ) -> RetrainDecision:
        """The retraining policy on this period (and on labels that arrive now for an earlier one)."""
        ...

    def retrain(self, period: str, champion: Model) -> Retrained[Model] | None:
        """Train on the window ending at `period` and judge it against `champion`; None: not here."""
        ...


def periods_since(last_training: str | None, period: str, kind: PeriodKind) -> int | None:
    """Periods from the newest training's window end to `period` (1: the period right after it)."""
    if last_training is None:
        return None
    return len(period_range(last_training, period, kind)) - 1 if last_training <= period else 0


def run_period(
    steps: PeriodSteps[Model],
    state: LoopState[Model],
    period: str,
    *,
    kind: PeriodKind,
    label_delay: int,
    retrain: bool = True,
) -> StepResult[Model]:
    """Step the loop through one period.

    Args:
        steps: how this caller observes, assesses, decides and retrains.
        state: what the previous period left: the champion, the newest training, periods awaiting labels.
        period: the period to step through.
        kind: the contract's period kind.
        label_delay: periods before a period's labels are known (the contract's `target.label_delay`).
        retrain: act on a decision to retrain (off: monitor only, the decision is still made and recorded).

    Returns:
        The period's outcome and the state for the next period.
    """
    champion = state.champion
    observed = steps.observe(period, champion)
    if isinstance(observed, Blocked):
        outcome = PeriodOutcome(
            period=period,
            status="blocked",
            champion=steps.name(champion),
            champion_auc=None,
            why=observed.reason,
            reasons=(f"{observed.reason}; the champion stays",),
        )
        return StepResult(outcome=outcome, state=state, blocked=observed)

    verdict = steps.assess(champion, observed, labels_known=label_delay == 0)
    late, awaiting = _labels_arriving(
        steps, state, Served(period, champion, verdict, observed), label_delay, kind
    )
    decision = steps.decide(verdict, late, periods_since(state.last_training, period, kind))
    trained = steps.retrain(period, champion) if decision.retrain and retrain else None
    reasons = list(decision.reasons)
    if trained is not None:
        reasons.append(f"{'promoted' if trained.promoted else 'kept the champion'}: {trained.reason}")
    live = observed.metrics
    estimated = verdict.performance.estimated
    outcome = PeriodOutcome(
        period=period,
        status="ok",
        champion=steps.name(champion),
        champion_auc=live.auc if live else None,
        estimated_auc=estimated.expected if estimated else None,
        drift_index=verdict.drift.index,
        drifted=verdict.drift.index >= verdict.drift.index_threshold,
        prediction_drifted=verdict.drift.prediction is not None and verdict.drift.prediction.drifted,
        alarms=decision.alarms,
        retrained=trained is not None,
        promoted=trained is not None and trained.promoted,
        new_champion=steps.name(trained.challenger) if trained is not None and trained.promoted else None,
        why=decision.why if decision.alarms else None,
        reasons=tuple(reasons),
    )
    after = LoopState(
        champion=trained.champion if trained is not None else champion,
        last_training=period if trained is not None else state.last_training,
        awaiting=awaiting,
    )
    return StepResult(
        outcome=outcome, state=after, scored=observed, verdict=verdict, decision=decision, retrained=trained
    )


def _labels_arriving(
    steps: PeriodSteps[Model],
    state: LoopState[Model],
    served: Served[Model],
    label_delay: int,
    kind: PeriodKind,
) -> tuple[MonitoringVerdict | None, tuple[Served[Model], ...]]:
    """The verdict of the period whose labels arrive now, realized, if the same champion served it.

    Returns it (or None) and the periods still awaiting labels, this one included; older ones are dropped.
    """
    if label_delay == 0:
        return None, ()
    arriving = shift_period(served.period, -label_delay, kind)
    earlier = next((waiting for waiting in state.awaiting if waiting.period == arriving), None)
    awaiting = (*(waiting for waiting in state.awaiting if waiting.period > arriving), served)
    if earlier is None:
        return None, awaiting
    realized = steps.realize(earlier)
    same = steps.name(earlier.model) == steps.name(served.model)
    return (realized if same else None), awaiting
