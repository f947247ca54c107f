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

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from driftloop.core.contract import Contract
from driftloop.core.periods import period_range
from driftloop.core.settings import DriftSettings, PromotionSettings, TrainingSettings
from driftloop.core.storage import Storage
from driftloop.data.windows import TrainingWindow, WindowPlan, load_window, window_periods
from driftloop.lifecycle.challenger import Candidate, build_candidate
from driftloop.lifecycle.evaluation import trained_inside_holdout
from driftloop.lifecycle.monitoring import MonitoredModel, MonitoringVerdict, assess, candidate_model, realize
from driftloop.lifecycle.policy import RetrainPolicy, decide_with_late_labels
from driftloop.lifecycle.scoring import EnrichedBatch, ScoredBatch, score_batch
from driftloop.modelling.features import build_features
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.promotion import PromotionDecision, decide_promotion
from driftloop.modelling.training import predict_proba
from driftloop.replay.backtest.records import BacktestPeriod, BacktestResult, PolicyRun

# The drift settings a candidate's stored baseline depends on (thresholds that only decide alarms do not).
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
    training: TrainingSettings
    drift: DriftSettings
    promotion: PromotionSettings
    progress: Callable[[str], None] = lambda message: None
    memo: _Memo = field(default_factory=_Memo)

    def key(self, as_of: str) -> str:
        """The cache key of a training: its window's data versions and the training parameters."""
        periods = window_periods(as_of, self.plan.train_periods, self.plan.kind)
        versions = [self.batches[p].version.sha256 for p in periods if p in self.batches]
        made_with = self.drift.model_dump(mode="json", include=_BASELINE_SETTINGS)
        text = json.dumps([versions, self.training.model_dump(mode="json"), made_with])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

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
                decision = decide_promotion(c.holdout, c.holdout, c.baseline, self.promotion).refused(
                    f"the window ending {champion.as_of} is already the champion's"
                )
            else:
                features = build_features(window.holdout_frame, champion.candidate.trained.spec)
                theirs = score_predictions(
                    window.holdout_label, predict_proba(champion.candidate.booster, features)
                )
                decision = decide_promotion(c.holdout, theirs, c.baseline, self.promotion)
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
        delay = self.contract.target.label_delay
        champion = self.train(initial[-1])
        last_training = initial[-1]
        served: dict[str, _Candidate] = {}
        rows: list[BacktestPeriod] = []
        spent = 0.0
        for period in replay:
            if period not in self.batches:
                rows.append(
                    BacktestPeriod(
                        period=period,
                        status="blocked",
                        champion=champion.as_of,
                        auc=None,
                        alarmed=False,
                        retrained=False,
                        promoted=False,
                        reasons=("quarantined by the gate; the champion stays",),
                    )
                )
                continue
            served[period] = champion
            verdict = self.verdict(champion, period, labels_known=delay == 0)
            late = _late_verdict(self, served, replay, period, delay, champion)
            decision = decide_with_late_labels(
                verdict, late, policy, _since(last_training, period, self.plan)
            )
            retrained = promoted = False
            reasons = list(decision.reasons)
            if decision.retrain:
                challenger = self.train(period)
                spent += challenger.seconds
                last_training, retrained = period, True
                judged = self.judge(challenger, champion)
                promoted = judged.promote
                reasons.append(f"{'promoted' if promoted else 'kept the champion'}: {judged.reasons[-1]}")
                if promoted:
                    champion = challenger
            live = self.score(served[period], period).metrics
            rows.append(
                BacktestPeriod(
                    period=period,
                    status="ok",
                    champion=served[period].as_of,
                    auc=round(live.auc, 6) if live else None,
                    estimated_auc=verdict.performance.estimated.expected
                    if verdict.performance.estimated
                    else None,
                    alarmed=bool(decision.alarms),
                    retrained=retrained,
                    promoted=promoted,
                    reasons=tuple(reasons),
                )
            )
        aucs = [row.auc for row in rows if row.auc is not None]
        return PolicyRun(
            policy=policy.name,
            description=policy.describe(),
            default=default,
            alarms=sum(row.alarmed for row in rows),
            retrains=sum(row.retrained for row in rows),
            promotions=sum(row.promoted for row in rows),
            mean_auc=round(float(np.mean(aucs)), 6) if aucs else None,
            worst_auc=round(float(min(aucs)), 6) if aucs else None,
            train_seconds=round(spent, 3),
            periods=tuple(rows),
        )


def _since(last_training: str, period: str, plan: WindowPlan) -> int:
    return len(period_range(last_training, period, plan.kind)) - 1


def _late_verdict(
    backtest: Backtest,
    served: dict[str, _Candidate],
    replay: list[str],
    period: str,
    delay: int,
    champion: _Candidate,
) -> MonitoringVerdict | None:
    """The verdict of the period whose labels arrive now, realized, if the same champion served it."""
    if delay == 0:
        return None
    index = replay.index(period) - delay
    if index < 0 or replay[index] not in served or served[replay[index]] is not champion:
        return None
    earlier = replay[index]
    return realize(backtest.verdict(champion, earlier, labels_known=False), backtest.score(champion, earlier))


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
