"""A stream with known truth: resampled real rows, changed on purpose, to score the monitor's alarms.

A model is trained on a real window whose holdout is a random 30% of its rows, so holdout rows come from
exactly the distribution the model and its reference saw. Each period of the stream is a fixed-seed draw
of holdout rows, then one of:
- **stationary**: nothing changed (harmless);
- **harmless drift**: one of the features the model uses least shifts by two standard deviations;
- **covariate drift**: one of the two numeric features the model relies on most shifts by two standard
  deviations, as a unit or offset bug upstream would do (harmful: the model reads wrong inputs);
- **concept drift**: for half the rows the label follows a different rule (a feature the model barely
  uses decides it), while every input keeps its distribution (harmful: only performance can see it);
- **breakage**: a categorical column collapses to one value, or a numeric one arrives empty (harmful).

`score_stream` then counts, per detector and per policy, how many harmful periods raised an alarm
(detection) and how many harmless ones did (false alarms).
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract, TargetSpec
from driftloop.core.records import Record
from driftloop.core.settings import DriftSettings
from driftloop.data.batches import DataVersion
from driftloop.data.enrichment import labels
from driftloop.data.windows import TrainingWindow
from driftloop.lifecycle.challenger import Candidate
from driftloop.lifecycle.monitoring import MonitoringVerdict, assess, candidate_model
from driftloop.lifecycle.policy import RetrainPolicy, decide_retrain
from driftloop.lifecycle.scoring import EnrichedBatch, score_batch

Kind = Literal["stationary", "harmless drift", "covariate drift", "concept drift", "breakage"]
KINDS: tuple[Kind, ...] = ("stationary", "harmless drift", "covariate drift", "concept drift", "breakage")
HARMFUL: frozenset[str] = frozenset({"covariate drift", "concept drift", "breakage"})


class TruthPeriod(Record):
    """One period of the stream and what was done to it."""

    name: str
    kind: Kind
    change: str

    @property
    def harmful(self) -> bool:
        return self.kind in HARMFUL


def random_holdout_window(window: TrainingWindow, share: float, seed: int) -> TrainingWindow:
    """The same rows with a random holdout instead of the last days, so holdout and training match."""
    rng = np.random.default_rng(seed)
    return TrainingWindow(
        frame=window.frame,
        label=window.label,
        times=window.times,
        versions=window.versions,
        periods=window.periods,
        missing_periods=window.missing_periods,
        holdout=rng.random(len(window.frame)) < share,
    )


def _numeric_by_weight(candidate: Candidate, frame: pd.DataFrame) -> list[str]:
    """Numeric features read straight from a column (not derived) that vary, most used first."""
    spec = candidate.trained.spec
    weights = candidate.yardsticks.weights
    usable = [
        column.name
        for column in spec.columns
        if column.kind == "numeric" and column.derive is None and frame[column.name].std() > 0
    ]
    return sorted(usable, key=lambda name: -weights.get(name, 0.0))


def _label_values(outcomes: pd.Series, target: TargetSpec) -> tuple[object, object]:
    """An outcome the contract reads as positive and one it reads as negative."""
    if target.positive_value is not None:
        others = outcomes[outcomes.notna() & (outcomes != target.positive_value)]
        return target.positive_value, others.iloc[0] if len(others) else None
    above = target.positive_above
    return (above + 1, above - 1) if above is not None else (1, 0)


def make_stream(
    window: TrainingWindow, candidate: Candidate, contract: Contract, per_kind: int, rows: int, seed: int
) -> list[tuple[TruthPeriod, EnrichedBatch]]:
    """`per_kind` periods of each kind, each `rows` holdout rows drawn and changed with its own seed.

    Args:
        window: the window the candidate was trained on, with a random holdout.
        candidate: the model under test (its weights choose which features matter).
        contract: label rule and dataset name.
        per_kind: periods per kind.
        rows: rows per period.
        seed: seed of the whole stream.

    Returns:
        The periods in a fixed order, each with its enriched batch (labels recomputed after changes).
    """
    pool = window.holdout_frame.reset_index(drop=True)
    numeric = _numeric_by_weight(candidate, pool)
    important, unimportant = numeric[:2], numeric[-3:]
    categorical = [
        name
        for name in sorted(candidate.trained.spec.categorical, key=lambda n: -candidate.yardsticks.weight(n))
        if name in pool.columns
    ]
    target = contract.target
    stream: list[tuple[TruthPeriod, EnrichedBatch]] = []
    for number in range(per_kind):
        for kind in KINDS:
            rng = np.random.default_rng([seed, number, KINDS.index(kind)])
            frame = pool.iloc[np.sort(rng.choice(len(pool), size=min(rows, len(pool)), replace=False))]
            frame = frame.reset_index(drop=True).copy()
            change = "none"
            if kind == "harmless drift":
                column = unimportant[number % len(unimportant)]
                frame[column] = frame[column] + 2 * pool[column].std()
                change = f"{column} + 2 std (weight {candidate.yardsticks.weight(column):.3f})"
            elif kind == "covariate drift":
                column = important[number % len(important)]
                frame[column] = frame[column] + 2 * pool[column].std()
                change = f"{column} + 2 std (weight {candidate.yardsticks.weight(column):.3f})"
            elif kind == "concept drift":
                column = unimportant[number % len(unimportant)]
                flipped = rng.random(len(frame)) < 0.5
                rule = frame[column] > frame[column].median()
                yes, no = _label_values(frame[target.column], target)
                frame.loc[flipped, target.column] = np.where(rule[flipped], yes, no)
                change = f"half the labels follow {column} > median"
            elif kind == "breakage":
                if number % 2 == 0 and categorical:
                    column = categorical[(number // 2) % len(categorical)]
                    value = frame[column].mode().iloc[0]
                    frame[column] = value
                    change = f"{column} collapsed to {value!r}"
                else:
                    column = important[(number // 2) % len(important)]
                    frame[column] = np.nan
                    change = f"{column} all missing"
            name = f"{kind.replace(' ', '-')}-{number:02d}"
            version = DataVersion(
                dataset=contract.name,
                period=name,
                sha256=hashlib.sha256(f"truth/{seed}/{name}".encode()).hexdigest(),
                key=f"truth/{name}",
                rows=len(frame),
            )
            batch = EnrichedBatch(version=version, frame=frame, label=labels(frame, contract))
            stream.append((TruthPeriod(name=name, kind=kind, change=change), batch))
    return stream


class DetectionRate(Record):
    """How one detector or policy did on the stream."""

    name: str
    detected: int  # harmful periods alarmed
    harmful: int
    false_alarms: int  # harmless periods alarmed
    harmless: int
    by_kind: dict[str, float]  # share of each kind's periods alarmed

    @property
    def detection_rate(self) -> float:
        return self.detected / self.harmful if self.harmful else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.harmless if self.harmless else 0.0


def _rate(name: str, periods: list[TruthPeriod], alarmed: list[bool]) -> DetectionRate:
    by_kind = {
        kind: float(np.mean([a for p, a in zip(periods, alarmed, strict=True) if p.kind == kind]))
        for kind in KINDS
    }
    return DetectionRate(
        name=name,
        detected=sum(a for p, a in zip(periods, alarmed, strict=True) if p.harmful),
        harmful=sum(p.harmful for p in periods),
        false_alarms=sum(a for p, a in zip(periods, alarmed, strict=True) if not p.harmful),
        harmless=sum(not p.harmful for p in periods),
        by_kind=by_kind,
    )


def score_stream(
    periods: list[TruthPeriod], verdicts: list[MonitoringVerdict], policies: list[RetrainPolicy]
) -> list[DetectionRate]:
    """Detection and false-alarm rates per detector, then per policy (its triggers, no cooldown)."""
    rates = [
        _rate(detector, periods, [v.fired(detector) for v in verdicts])  # type: ignore[arg-type]
        for detector in ("drift", "performance", "breakage", "fixed-drift")
    ]
    monitor = [v.fired("drift") or v.fired("performance") or v.fired("breakage") for v in verdicts]
    rates.append(_rate("monitor (drift, performance or breakage)", periods, monitor))
    for policy in policies:
        decided = [bool(decide_retrain(v, policy, None).alarms) for v in verdicts]
        rates.append(_rate(f"policy {policy.name}", periods, decided))
    return rates


class TruthRun(Record):
    """The stream's periods, the monitor's verdicts on them, and the rates."""

    periods: tuple[TruthPeriod, ...]
    verdicts: tuple[MonitoringVerdict, ...]
    rates: tuple[DetectionRate, ...]

    def rate(self, name: str) -> DetectionRate:
        return next(rate for rate in self.rates if rate.name == name)


def run_stream(
    window: TrainingWindow,
    candidate: Candidate,
    contract: Contract,
    drift: DriftSettings,
    policies: list[RetrainPolicy],
    *,
    per_kind: int,
    rows: int,
    seed: int,
) -> TruthRun:
    """Make the stream, monitor every period with the candidate (labels known), and score the alarms."""
    model = candidate_model(candidate, name="truth")
    stream = make_stream(window, candidate, contract, per_kind, rows, seed)
    verdicts = [
        assess(
            contract.name,
            model,
            score_batch(batch, candidate.booster, candidate.trained.spec, 0),
            drift,
            labels_known=True,
            html=False,
        ).verdict
        for _, batch in stream
    ]
    periods = [period for period, _ in stream]
    rates = score_stream(periods, verdicts, policies)
    return TruthRun(periods=tuple(periods), verdicts=tuple(verdicts), rates=tuple(rates))
