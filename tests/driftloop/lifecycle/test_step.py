"""The period step every caller shares: what follows from what, and what one period leaves for the next.

The steps here are a small in-memory implementation of `PeriodSteps` (models named by strings, verdicts
scripted per period): the loop's logic is under test, not how a caller stores or trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from driftloop.data.batches import DataVersion
from driftloop.lifecycle.monitoring import Alarm, ColumnCheck, DriftCheck, MonitoringVerdict
from driftloop.lifecycle.policy import RetrainDecision, RetrainPolicy, decide_with_late_labels
from driftloop.lifecycle.scoring import EnrichedBatch, ScoredBatch
from driftloop.lifecycle.step import (
    Blocked,
    LoopState,
    PeriodOutcome,
    Retrained,
    Served,
    periods_since,
    run_period,
)
from tests.driftloop.lifecycle.test_policy import DRIFT, _verdict

POLICY = RetrainPolicy(name="p", triggers=("drift", "performance"))
LATE = Alarm(detector="performance", reason="realized AUC 0.6000 < 0.6900", short="AUC 0.600 < 0.690")


def _scored(period: str, model: str) -> ScoredBatch:
    label = pd.Series([0.0, 1.0, 0.0, 1.0])
    version = DataVersion(dataset="d", period=period, sha256="a" * 64, key="k", rows=4)
    batch = EnrichedBatch(version=version, frame=pd.DataFrame({"x": [1, 2, 3, 4]}), label=label)
    return ScoredBatch(
        batch=batch,
        model_version=int(model[1:]),
        features=batch.frame,
        prediction=np.array([0.1, 0.9, 0.2, 0.8]),
    )


@dataclass
class ScriptedSteps:
    alarms: dict[str, tuple[Alarm, ...]] = field(default_factory=dict)
    drift: dict[str, DriftCheck] = field(default_factory=dict)  # default: index 0.5, no prediction
    blocked: set[str] = field(default_factory=set)
    promote: bool = True
    calls: list[str] = field(default_factory=list)
    since: list[int | None] = field(default_factory=list)
    late: list[str | None] = field(default_factory=list)

    def name(self, model: str) -> str:
        return model

    def observe(self, period: str, champion: str) -> ScoredBatch | Blocked:
        self.calls.append(f"observe {period} {champion}")
        return Blocked("quarantined by the gate") if period in self.blocked else _scored(period, champion)

    def assess(self, champion: str, scored: ScoredBatch, labels_known: bool) -> MonitoringVerdict:
        period = scored.batch.period
        self.calls.append(f"assess {period} {champion} labels={labels_known}")
        verdict = _verdict(*self.alarms.get(period, ()))
        drift = self.drift.get(period, verdict.drift)
        return verdict.model_copy(
            update={"period": period, "model_version": int(champion[1:]), "drift": drift}
        )

    def realize(self, served: Served[str]) -> MonitoringVerdict:
        self.calls.append(f"realize {served.period} {served.model}")
        return served.verdict.model_copy(update={"alarms": (LATE,)})

    def decide(
        self, verdict: MonitoringVerdict, late: MonitoringVerdict | None, periods_since_training: int | None
    ) -> RetrainDecision:
        self.since.append(periods_since_training)
        self.late.append(late.period if late else None)
        return decide_with_late_labels(verdict, late, POLICY, periods_since_training)

    def retrain(self, period: str, champion: str) -> Retrained[str]:
        self.calls.append(f"retrain {period} over {champion}")
        challenger = f"v{int(champion[1:]) + 1}"
        return Retrained(
            challenger=challenger,
            champion=challenger if self.promote else champion,
            promoted=self.promote,
            reason="beats the champion" if self.promote else "does not beat the champion",
        )


def _walk(steps: ScriptedSteps, periods: list[str], delay: int = 0, retrain: bool = True) -> list:
    state: LoopState[str] = LoopState(champion="v1", last_training="2013-03")
    results = []
    for period in periods:
        result = run_period(steps, state, period, kind="month", label_delay=delay, retrain=retrain)
        results.append(result)
        state = result.state
    return results


def test_an_alarm_retrains_and_the_new_champion_serves_the_next_period() -> None:
    steps = ScriptedSteps(alarms={"2013-05": (DRIFT,)})
    first = LoopState(champion="v1", last_training="2013-03")
    results = _walk(steps, ["2013-04", "2013-05", "2013-06"])

    assert [r.outcome.champion for r in results] == ["v1", "v1", "v2"]
    assert [(r.outcome.retrained, r.outcome.promoted, r.outcome.new_champion) for r in results] == [
        (False, False, None), (True, True, "v2"), (False, False, None),
    ]  # fmt: skip
    may = results[1].outcome
    assert may.alarms == ("drift",) and may.why == DRIFT.short and may.champion_auc == 1.0
    assert may.reasons == (DRIFT.reason, "promoted: beats the champion")
    assert steps.since == [1, 2, 1]  # counted from the newest training's window end
    assert results[-1].state.last_training == "2013-05" and results[-1].state.champion == "v2"
    assert first == LoopState(champion="v1", last_training="2013-03")  # nothing given was changed
    assert "retrain 2013-05 over v1" in steps.calls


def test_a_blocked_period_decides_nothing_and_leaves_the_state_as_it_was() -> None:
    steps = ScriptedSteps(blocked={"2013-05"})
    before, blocked, _ = _walk(steps, ["2013-04", "2013-05", "2013-06"])

    assert blocked.outcome.status == "blocked" and blocked.outcome.champion == "v1"
    assert (blocked.outcome.why, blocked.outcome.champion_auc) == ("quarantined by the gate", None)
    assert blocked.state is before.state and blocked.verdict is None and blocked.decision is None
    assert not any(call.startswith("assess 2013-05") for call in steps.calls)
    assert steps.since == [1, 3]  # the blocked period was never decided on


def test_a_decision_not_acted_on_when_retraining_is_off() -> None:
    steps = ScriptedSteps(alarms={"2013-04": (DRIFT,)})
    [result] = _walk(steps, ["2013-04"], retrain=False)
    assert result.decision is not None and result.decision.retrain
    assert not result.outcome.retrained and result.state.last_training == "2013-03"
    assert not any(call.startswith("retrain") for call in steps.calls)


def test_late_labels_are_realized_when_they_arrive_and_count_only_for_the_same_champion() -> None:
    steps = ScriptedSteps(alarms={"2013-05": (DRIFT,)})
    results = _walk(steps, ["2013-04", "2013-05", "2013-06", "2013-07"], delay=1)

    assert [c for c in steps.calls if c.startswith(("assess", "realize"))] == [
        "assess 2013-04 v1 labels=False",
        "assess 2013-05 v1 labels=False", "realize 2013-04 v1",
        "assess 2013-06 v2 labels=False", "realize 2013-05 v1",
        "assess 2013-07 v2 labels=False", "realize 2013-06 v2",
    ]  # fmt: skip
    # April's labels (same champion v1) reach May's decision; May's, served by v1, not June's (v2 now).
    assert steps.late == [None, "2013-04", None, "2013-06"]
    assert results[3].outcome.alarms == ("performance",)  # July retrains on June's realized AUC
    assert [s.period for s in results[3].state.awaiting] == ["2013-07"]  # older periods are dropped


def test_the_outcome_tells_the_drift_index_alarm_from_prediction_drift() -> None:
    """Both raise the `drift` alarm; only an index at its threshold is `drifted` (the table's DRIFT)."""
    moved = ColumnCheck(column="prediction", method="wasserstein", score=0.1149, threshold=0.1141, weight=1.0,
                        drifted=True)  # fmt: skip
    calm = _verdict().drift
    predicted = Alarm(detector="drift", reason="prediction drifted", short="prediction drift 0.115 > 0.114")
    steps = ScriptedSteps(
        alarms={"2013-04": (predicted,), "2013-05": (DRIFT,)},
        drift={
            "2013-04": calm.model_copy(update={"index": 0.58, "prediction": moved}),
            "2013-05": calm.model_copy(update={"index": 1.0}),
        },
    )
    april, may, june = (r.outcome for r in _walk(steps, ["2013-04", "2013-05", "2013-06"], retrain=False))

    assert (april.drifted, april.prediction_drifted, april.alarms) == (False, True, ("drift",))
    assert (may.drifted, may.prediction_drifted, may.alarms) == (True, False, ("drift",))
    assert (june.drifted, june.prediction_drifted, june.alarms) == (False, False, ())


def test_an_outcome_stored_before_prediction_drift_had_its_own_field_still_loads() -> None:
    stored = b'{"month": "2013-04", "status": "ok", "champion": "v1", "champion_auc": 0.66, "drifted": true}'
    row = PeriodOutcome.from_json(stored)
    assert row.period == "2013-04" and row.drifted and not row.prediction_drifted


def test_periods_since_counts_periods_of_the_contracts_kind() -> None:
    assert periods_since(None, "2013-05", "month") is None
    assert periods_since("2013-03", "2013-03", "month") == 0
    assert periods_since("2013-W50", "2014-W02", "week") == 4
