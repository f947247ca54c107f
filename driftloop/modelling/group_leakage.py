"""The group leakage guard: after training, whether a few columns together restate the label.

The single-feature guard (`driftloop.modelling.leakage`) cannot see a label spread over several columns:
a histogram of the very score the label is cut from is five columns, each near AUC 0.8 alone, that
together give it back. The model sees it, and reaches an implausible holdout AUC. So a challenger is
checked when its holdout AUC reaches `leakage.max_model_auc` (0.95), or beats the champion's on the same
holdout by `leakage.max_gain_over_champion` (0.10). Otherwise nothing is done: no training, no sample.

The check retrains without the model's strongest features by gain importance, those listed under
`leakage.accepted` skipped, leaving out one more at a time (at most `MAX_DROPS`), and stops at the first
retraining whose holdout AUC is plausible again: below `max_model_auc`, and within
`max_gain_over_champion` of the champion when there is one. Then it retrains on those left-out features
alone:
- when on their own they predict the label at least as well as every other feature together, they are
  the group that restates it, and block the challenger (`GroupLeakageSuspected`, a `LeakageSuspected`);
- when they predict it less well, they only add to the others, as an honest model's best features do (a
  model a hair above the line is plausible again without its best one): it passes;
- when no retraining brings the AUC back, the data explains it, not a few columns: it passes.
When some features are accepted, a first retraining on them alone says whether they explain the AUC: it
passes when they are implausible on their own, or when the others add less than `MIN_ADDED_TO_ACCEPTED`.

Each retraining is the final model's recipe (`training.train_model`): one LightGBM fit, with the same
parameters, seed and number of rounds, on the same training rows; no cross-validation, so a fifth of a
training. So the retraining with every feature is the challenger itself. Beyond `MAX_ROWS` rows (and on a
cluster, where the client holds a sample of them) the retrainings use a fixed-seed sample, and the model
with every feature is retrained on it too, to compare like with like. At most `MAX_DROPS` + 3 retrainings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract, LeakageSpec
from driftloop.core.records import Record
from driftloop.core.sampling import sample_positions
from driftloop.modelling.leakage import LeakageSuspected
from driftloop.modelling.metrics import weighted_auc
from driftloop.modelling.restatement import GROUP_R2, restating_group
from driftloop.modelling.training import TrainedModel, predict_proba

if TYPE_CHECKING:
    import lightgbm as lgb

MAX_DROPS = 8  # retrainings leaving out one more feature each: a group of up to 8 columns is found
MIN_ADDED_TO_ACCEPTED = 0.05  # AUC the other features must add to the accepted ones for a group to matter
MAX_ROWS = 100_000  # training rows a retraining uses at most (a fixed-seed sample beyond)


class DropStep(Record):
    """One retraining: the features it left out, and its holdout AUC without them."""

    dropped: tuple[str, ...]
    auc: float


class GroupLeakageCheck(Record):
    """Why a challenger was checked for a group of leaking columns, what retrainings found, the verdict."""

    triggers: tuple[str, ...]  # why it was checked: its AUC, its gain over the champion
    auc: float  # the challenger's holdout AUC
    champion_auc: float | None  # the champion's on the same holdout, when there is one to compare with
    reference_auc: float  # with every feature, as the retrainings are made: `auc`, unless sampled
    rows: int  # training rows each retraining used
    sampled: bool  # a fixed-seed sample of the training rows (then `reference_auc` was retrained too)
    accepted_only: DropStep | None = None  # the retraining on the accepted features alone, if any
    steps: tuple[DropStep, ...] = ()  # the retrainings leaving out the strongest features, in order
    group_alone: DropStep | None = None  # the retraining on the last step's left-out features alone
    group: tuple[str, ...] = ()  # the columns that restate the label; empty: passed
    finding: str  # what was found, in one sentence

    @property
    def blocked(self) -> bool:
        return bool(self.group)

    @property
    def retrainings(self) -> int:
        extra = (self.accepted_only, self.group_alone)
        return len(self.steps) + sum(step is not None for step in extra) + self.sampled

    @property
    def auc_without_group(self) -> float | None:
        return self.steps[-1].auc if self.group else None

    def summary(self) -> str:
        """One line for the log: why it ran, what it found, what it cost."""
        verdict = "BLOCKED" if self.blocked else "passed"
        rows = f"{self.rows:,} {'sampled ' if self.sampled else ''}training rows"
        return (
            f"group leakage check ({'; '.join(self.triggers)}): {verdict}: {self.finding} "
            f"[{self.retrainings} retraining(s) on {rows}]"
        )


class GroupLeakageSuspected(LeakageSuspected):
    """A few features together predict the target implausibly well; the message names them and what to do."""

    def __init__(self, message: str, check: GroupLeakageCheck | None = None) -> None:
        super().__init__(message)
        self.check = check

    def __reduce__(self) -> tuple[type[GroupLeakageSuspected], tuple[str, GroupLeakageCheck | None]]:
        return type(self), (str(self), self.check)


@dataclass(frozen=True)
class CheckedRows:
    """What the retrainings fit and score: model matrices and labels of the training rows and the holdout."""

    train: pd.DataFrame  # the training rows' model matrix (columns as the model's spec)
    train_label: np.ndarray
    holdout: pd.DataFrame  # the holdout's model matrix
    holdout_label: np.ndarray
    every_row: bool = True  # False: `train` is a sample of the rows the model was trained on
    # The value the label is cut from (`target.column`) on the training rows, made only when a check runs,
    # and their times: a group that restates it is a leak even when dropping one of its columns makes the
    # AUC plausible (the parts of an additive score).
    train_source: Callable[[], np.ndarray] | None = None
    train_times: pd.Series | None = None


def group_check_triggers(auc: float, champion_auc: float | None, guard: LeakageSpec) -> tuple[str, ...]:
    """Why a challenger with this holdout AUC (and this champion's, on the same holdout) must be checked.

    Returns:
        One phrase per trigger that fired; empty: no check (a NaN AUC fires nothing).
    """
    triggers = []
    if auc >= guard.max_model_auc:
        triggers.append(f"holdout AUC {auc:.3f} >= leakage.max_model_auc {guard.max_model_auc:g}")
    if champion_auc is not None and auc - champion_auc >= guard.max_gain_over_champion:
        triggers.append(
            f"{auc - champion_auc:.3f} above the champion's {champion_auc:.3f} on the same holdout, "
            f">= leakage.max_gain_over_champion {guard.max_gain_over_champion:g}"
        )
    return tuple(triggers)


def _auc(label: np.ndarray, probability: np.ndarray) -> float:
    return float(weighted_auc(probability, label, 1.0 - label))


class _Refit:
    """The final model's recipe, without some features, on the checked rows: its holdout AUC."""

    def __init__(self, rows: CheckedRows, trained: TrainedModel) -> None:
        positions = sample_positions(len(rows.train), MAX_ROWS, trained.params.seed)
        self.sampled = not rows.every_row or len(positions) < len(rows.train)
        self.train = rows.train if len(positions) == len(rows.train) else rows.train.iloc[positions]
        self.train_label = np.asarray(rows.train_label, dtype=float)[positions]
        self.rows = rows
        self.trained = trained

    def auc_without(self, dropped: tuple[str, ...]) -> float:
        kept = [name for name in self.trained.spec.names if name not in dropped]
        booster = self._fit(kept)
        return _auc(self.rows.holdout_label.astype(float), predict_proba(booster, self.rows.holdout[kept]))

    def _fit(self, kept: list[str]) -> lgb.Booster:
        import lightgbm as lgb

        from driftloop.modelling.matrix_rows import matrix_dataset

        categorical = [name for name in self.trained.spec.categorical if name in kept]
        dataset = matrix_dataset(self.train[kept], self.train_label, categorical, keep_rows=False)
        return lgb.train(self.trained.params.for_lightgbm(), dataset, num_boost_round=self.trained.num_rounds)


def find_leaking_group(
    rows: CheckedRows,
    trained: TrainedModel,
    auc: float,
    champion_auc: float | None,
    guard: LeakageSpec,
) -> GroupLeakageCheck | None:
    """Check a challenger for a group of columns that restate the label (see the module docstring).

    Args:
        rows: the training rows (or a sample) and the holdout, as model matrices with their labels.
        trained: the challenger: its spec, parameters, rounds and gain importance.
        auc: the challenger's holdout AUC.
        champion_auc: the champion's AUC on the same holdout, or None (no champion to compare with).
        guard: the contract's leakage settings.

    Returns:
        None when no trigger fired (nothing was trained); else the evidence, `group` naming the columns
        that restate the label (empty: passed).
    """
    if champion_auc is not None and np.isnan(champion_auc):
        champion_auc = None
    triggers = group_check_triggers(auc, champion_auc, guard)
    if not triggers:
        return None
    refit = _Refit(rows, trained)
    reference = refit.auc_without(()) if refit.sampled else auc
    found = _Search(refit, trained, reference, champion_auc, guard).run()
    return GroupLeakageCheck(
        triggers=triggers,
        auc=auc,
        champion_auc=champion_auc,
        reference_auc=reference,
        rows=len(refit.train),
        sampled=refit.sampled,
        accepted_only=found.accepted_only,
        steps=tuple(found.steps),
        group_alone=found.group_alone,
        group=found.group,
        finding=found.finding,
    )


@dataclass
class _Search:
    """The retrainings of one check, in order, and what they found."""

    refit: _Refit
    trained: TrainedModel
    reference: float
    champion_auc: float | None
    guard: LeakageSpec
    accepted_only: DropStep | None = None
    steps: list[DropStep] = field(default_factory=list)
    group_alone: DropStep | None = None
    group: tuple[str, ...] = ()
    finding: str = ""

    def plausible(self, auc: float) -> bool:
        """Below `max_model_auc`, and within `max_gain_over_champion` of the champion if there is one."""
        guard, champion = self.guard, self.champion_auc
        return auc < guard.max_model_auc and (
            champion is None or auc - champion < guard.max_gain_over_champion
        )

    def retrain_without(self, dropped: tuple[str, ...]) -> DropStep:
        return DropStep(dropped=dropped, auc=self.refit.auc_without(dropped))

    def run(self) -> _Search:
        names, accepted = self.trained.spec.names, self.guard.accepted
        gain = self.trained.gain_importance
        suspects = sorted(
            (name for name in names if name not in accepted and gain.get(name, 0.0) > 0),
            key=lambda name: (-gain[name], name),
        )
        if not suspects:
            return self.passed("every feature the model leans on is listed under leakage.accepted")
        if any(name in accepted for name in names):
            others = tuple(name for name in names if name not in accepted)
            self.accepted_only = self.retrain_without(others)
            alone, kept = self.accepted_only.auc, ", ".join(name for name in names if name in accepted)
            said = f"the accepted features alone ({kept}) reach AUC {alone:.3f}"
            if not self.plausible(alone):
                return self.passed(f"{said}: the high AUC is theirs")
            if (added := self.reference - alone) < MIN_ADDED_TO_ACCEPTED:
                return self.passed(
                    f"{said}, the others add {added:.3f} (< {MIN_ADDED_TO_ACCEPTED:g}): the AUC is theirs"
                )
        for count in range(1, min(MAX_DROPS, len(suspects), len(names) - 1) + 1):
            self.steps.append(self.retrain_without(tuple(suspects[:count])))
            if self.plausible(self.steps[-1].auc):
                break
        else:
            if not self.steps:
                return self.passed("the model has no feature that could be left out")
            return self.passed(
                f"without its {len(self.steps[-1].dropped)} strongest feature(s) the AUC is still "
                f"{self.steps[-1].auc:.3f}: no small group explains it, the data does"
            )
        without = self.steps[-1]
        group = without.dropped
        self.group_alone = self.retrain_without(tuple(name for name in names if name not in group))
        named = ", ".join(group)
        if self.group_alone.auc < without.auc:
            return self.passed(
                f"without {named} the AUC is a plausible {without.auc:.3f}, and {named} alone reach(es) only "
                f"{self.group_alone.auc:.3f}: added to the other features, not a restated label"
            )
        self.group = group
        self.finding = (
            f"{named} alone reach(es) AUC {self.group_alone.auc:.3f}, at least as much as all other features "
            f"together ({without.auc:.3f}), and carry the model to {self.reference:.3f}"
        )
        return self

    def passed(self, finding: str) -> _Search:
        self.finding = finding
        return self


def group_leakage_message(check: GroupLeakageCheck, contract: Contract, blocked: str) -> str:
    """What a user reads when a group blocks the challenger: its columns, the AUCs, why, and what to do."""
    assert check.group_alone is not None and check.auc_without_group is not None  # a blocking check has both
    if len(check.group) == 1:
        named, alone, them = f"{check.group[0]} restates", "on its own it reaches", "it"
    else:
        named, alone, them = f"{', '.join(check.group)} together restate", "on their own they reach", "them"
    sample = f", retrained on a sample of {check.rows:,} training rows" if check.sampled else ""
    return (
        f"{blocked}: {named} `{contract.target.name}`: {alone} holdout AUC {check.group_alone.auc:.3f}, at "
        f"least as much as all other features together; the model's holdout AUC is {check.reference_auc:.3f} "
        f"with {them} and {check.auc_without_group:.3f} without {them}{sample} (checked because: "
        f"{'; '.join(check.triggers)}). Columns computed from the label or from what it is cut from do this "
        "(several views of one outcome, a histogram of its score), and other columns computed like these may "
        "belong with them. Remove them from `features`, mark their columns `role: leakage`, or, if they are "
        "genuinely that predictive, list them under `leakage.accepted`"
    )


def check_group_leakage(
    rows: CheckedRows,
    trained: TrainedModel,
    auc: float,
    champion_auc: float | None,
    contract: Contract,
    blocked: str = "training blocked",
) -> GroupLeakageCheck | None:
    """Raise `GroupLeakageSuspected` when a group of features not accepted restates the label.

    Returns:
        The evidence of a check that passed, or None when none was needed (see `find_leaking_group`).
    """
    check = find_leaking_group(rows, trained, auc, champion_auc, contract.leakage)
    if check is not None and check.blocked:
        raise GroupLeakageSuspected(group_leakage_message(check, contract, blocked), check)
    if check is not None:
        restated = _restating(rows, trained, contract)
        if restated is not None:
            raise GroupLeakageSuspected(_restatement_message(restated, check, contract, blocked), check)
    return check


def _restating(
    rows: CheckedRows, trained: TrainedModel, contract: Contract
) -> tuple[list[str], float] | None:
    """The numeric features not accepted that together restate the target column, if some do."""
    if rows.train_source is None or rows.train_times is None:
        return None
    numeric = [name for name in trained.spec.numeric if name not in contract.leakage.accepted]
    return restating_group(rows.train[numeric], rows.train_source(), rows.train_times)


def _restatement_message(
    restated: tuple[list[str], float], check: GroupLeakageCheck, contract: Contract, blocked: str
) -> str:
    columns, r2 = restated
    target = contract.target
    return (
        f"{blocked}: {', '.join(columns)} together restate `{target.column}`, the value `{target.name}` is "
        f"cut from: a linear fit of them explains {r2:.1%} of its variance on the later 20% of the training "
        f"rows (>= {GROUP_R2:.0%}); the model's holdout AUC is {check.auc:.3f} (checked because: "
        f"{'; '.join(check.triggers)}). Columns computed from the label or from what it is cut from do this "
        "(several views of one outcome, a histogram of its score). Remove them from `features`, mark their "
        "columns `role: leakage`, or, if they are genuinely known before the outcome, list them under "
        "`leakage.accepted`"
    )
