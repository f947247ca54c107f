"""The backtest's engine: every policy replayed over the same periods, sharing what they have in common.

Each policy walks the same periods: its live champion scores a period, monitoring runs every detector, the
policy decides, a retraining trains on the window ending at that period, and the challenger is promoted
only on evidence (the same rule as the registry's). Nothing is registered: candidates live in memory.

The policies share work wherever the inputs are identical: a window ending at a given period is trained
once (keyed by the window's data versions and the training parameters), a model scores and is monitored on
a period once, and a promotion between two given models is judged once. So six policies cost little more
than the most eager one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from driftloop.core.contract import Contract
from driftloop.core.hashing import canonical_sha256
from driftloop.core.settings import DriftSettings, PromotionSettings, TrainingParameters
from driftloop.core.storage import Storage
from driftloop.data.windows import TrainingWindow, WindowPlan, load_window, window_periods
from driftloop.lifecycle.challenger import Candidate, build_candidate
from driftloop.lifecycle.evaluation import trained_inside_holdout
from driftloop.lifecycle.monitoring import MonitoredModel, MonitoringVerdict, assess, candidate_model, realize
from driftloop.lifecycle.policy import RetrainDecision, RetrainPolicy, decide_with_late_labels
from driftloop.lifecycle.scoring import EnrichedBatch, ScoredBatch, score_batch
from driftloop.lifecycle.step import Blocked, LoopState, Retrained, Served, run_period
from driftloop.modelling.features import build_features
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.promotion import PromotionDecision, decide_promotion
from driftloop.modelling.training import predict_proba
from driftloop.replay.backtest.records import BacktestResult, PolicyRun

# The drift settings a candidate's yardsticks depend on (thresholds that only decide alarms do not).
_BASELINE_SETTINGS = {
    "sample_rows",
    "sample_seed",
    "calibration_chunks",
    "calibration_k",
    "calibration_floor",
    "auc_bootstrap",
}


@dataclass
class _Candidate:
    as_of: str
    window: TrainingWindow
    candidate: Candidate
    seconds: float

    @property
    def model(self) -> MonitoredModel:
        return candidate_model(self.candidate, name=self.as_of)


@dataclass
class _Memo:
    """Work shared by every policy: trainings, scorings, verdicts and promotion decisions."""

    candidates: dict[str, _Candidate] = field(default_factory=dict)
    scored: dict[tuple[str, str], ScoredBatch] = field(default_factory=dict)
    verdicts: dict[tuple[str, str, bool], MonitoringVerdict] = field(default_factory=dict)
    promotions: dict[tuple[str, str], PromotionDecision] = field(default_factory=dict)


@dataclass
class Backtest:
    """The inputs every policy shares; `run` replays one policy, memoizing across policies."""

    storage: Storage
    contract: Contract
    batches: dict[str, EnrichedBatch]  # validated, enriched periods; a quarantined period is absent
    plan: WindowPlan
    training: TrainingParameters
    drift: DriftSettings
    promotion: PromotionSettings
    progress: Callable[[str], None] = lambda message: None
    memo: _Memo = field(default_factory=_Memo)

    def key(self, as_of: str) -> str:
        """The cache key of a training: its window's data versions and the training parameters."""
        periods = window_periods(as_of, self.plan.train_periods, self.plan.kind)
        versions = [self.batches[p].version.sha256 for p in periods if p in self.batches]
        made_with = self.drift.model_dump(mode="json", include=_BASELINE_SETTINGS)
        return canonical_sha256([versions, self.training.model_dump(mode="json"), made_with])[:16]

    def train(self, as_of: str) -> _Candidate:
        key = self.key(as_of)
        if key not in self.memo.candidates:
            periods = window_periods(as_of, self.plan.train_periods, self.plan.kind)
            present = [p for p in periods if p in self.batches]
            started = time.perf_counter()
            window = load_window(
                storage=self.storage,  # not read: every batch of the window is in `enriched`
                contract=self.contract,
                periods=periods,
                versions=[self.batches[p].version for p in present],
                tables={},
                plan=self.plan,
                enriched={self.batches[p].version.sha256: self.batches[p].frame for p in present},
            )
            candidate = build_candidate(window, self.contract, self.training, self.drift)
            seconds = time.perf_counter() - started
            self.memo.candidates[key] = _Candidate(as_of, window, candidate, seconds)
            self.progress(f"trained on the window ending {as_of} in {seconds:.1f} s")
        return self.memo.candidates[key]

    def score(self, model: _Candidate, period: str) -> ScoredBatch:
        key = (self.key(model.as_of), period)
        if key not in self.memo.scored:
            c = model.candidate
            self.memo.scored[key] = score_batch(self.batches[period], c.booster, c.trained.spec, 0)
        return self.memo.scored[key]

    def verdict(self, model: _Candidate, period: str, labels_known: bool) -> MonitoringVerdict:
        key = (self.key(model.as_of), period, labels_known)
        if key not in self.memo.verdicts:
            scored = self.score(model, period)
            assessment = assess(
                self.contract.name, model.model, scored, self.drift, labels_known=labels_known, html=False
            )
            self.memo.verdicts[key] = assessment.verdict
        return self.memo.verdicts[key]

    def judge(self, challenger: _Candidate, champion: _Candidate) -> PromotionDecision:
        key = (self.key(challenger.as_of), self.key(champion.as_of))
        if key not in self.memo.promotions:
            c, window = challenger.candidate, challenger.window
            if key[0] == key[1]:
                decision = decide_promotion(c.holdout, c.holdout, c.naive, self.promotion).refused(
                    f"the window ending {champion.as_of} is already the champion's"
                )
            else:
                features = build_features(window.holdout_frame, champion.candidate.trained.spec)
                theirs = score_predictions(
                    window.holdout_label, predict_proba(champion.candidate.booster, features)
                )
                decision = decide_promotion(c.holdout, theirs, c.naive, self.promotion)
                veto = trained_inside_holdout(
                    f"trained to {champion.as_of}",
                    champion.candidate.trained.train_end,
                    window.holdout_start.isoformat(),
                )
                if veto is not None:
                    decision = decision.refused(veto)
            self.memo.promotions[key] = decision
        return self.memo.promotions[key]

    def run(self, policy: RetrainPolicy, initial: list[str], replay: list[str], default: bool) -> PolicyRun:
        """Replay `replay` under `policy`, starting from the model trained on `initial`."""
        steps = _PolicySteps(self, policy)
        state: LoopState[_Candidate] = LoopState(champion=self.train(initial[-1]), last_training=initial[-1])
        rows = []
        for period in replay:
            step = run_period(
                steps, state, period, kind=self.plan.kind, label_delay=self.contract.target.label_delay
            )
            rows.append(step.outcome)
            state = step.state
        aucs = [round(row.champion_auc, 6) for row in rows if row.champion_auc is not None]
        return PolicyRun(
            policy=policy.name,
            description=policy.describe(),
            default=default,
            alarms=sum(row.alarmed for row in rows),
            retrains=sum(row.retrained for row in rows),
            promotions=sum(row.promoted for row in rows),
            mean_auc=round(float(np.mean(aucs)), 6) if aucs else None,
            worst_auc=round(float(min(aucs)), 6) if aucs else None,
            train_seconds=round(steps.spent, 3),
            periods=tuple(rows),
        )


class _PolicySteps:
    """The period step for one policy of a backtest: every part memoised across policies, nothing stored."""

    def __init__(self, backtest: Backtest, policy: RetrainPolicy) -> None:
        self.backtest = backtest
        self.policy = policy
        self.spent = 0.0  # seconds of the trainings this policy asked for

    def name(self, model: _Candidate) -> str:
        return model.as_of

    def observe(self, period: str, champion: _Candidate) -> ScoredBatch | Blocked:
        if period not in self.backtest.batches:
            return Blocked("quarantined by the gate")
        return self.backtest.score(champion, period)

    def assess(self, champion: _Candidate, scored: ScoredBatch, labels_known: bool) -> MonitoringVerdict:
        return self.backtest.verdict(champion, scored.batch.period, labels_known)

    def realize(self, served: Served[_Candidate]) -> MonitoringVerdict:
        return realize(served.verdict, served.scored)

    def decide(
        self, verdict: MonitoringVerdict, late: MonitoringVerdict | None, periods_since_training: int | None
    ) -> RetrainDecision:
        return decide_with_late_labels(verdict, late, self.policy, periods_since_training)

    def retrain(self, period: str, champion: _Candidate) -> Retrained[_Candidate]:
        challenger = self.backtest.train(period)
        self.spent += challenger.seconds
        judged = self.backtest.judge(challenger, champion)
        return Retrained(
            challenger=challenger,
            champion=challenger if judged.promote else champion,
            promoted=judged.promote,
            reason=judged.reasons[-1],
        )


def run_backtest(
    backtest: Backtest, policies: list[RetrainPolicy], initial: list[str], replay: list[str], default: str
) -> BacktestResult:
    """Every policy over the same periods; `default` names the configured policy."""
    runs = []
    for policy in policies:
        backtest.progress(f"policy {policy.describe()}")
        runs.append(backtest.run(policy, initial, replay, default=policy.name == default))
    return BacktestResult(
        dataset=backtest.contract.name,
        period_kind=backtest.plan.kind,
        initial=tuple(initial),
        replay=tuple(replay),
        label_delay=backtest.contract.target.label_delay,
        runs=tuple(runs),
    )
