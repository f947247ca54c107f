"""The group leakage guard blocks columns that restate the label together, and passes honest strength."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract, LeakageSpec
from driftloop.core.settings import TrainingParameters
from driftloop.modelling import group_leakage
from driftloop.modelling.features import FeatureColumn, FeatureSpec
from driftloop.modelling.group_leakage import (
    CheckedRows,
    DropStep,
    GroupLeakageCheck,
    GroupLeakageSuspected,
    check_group_leakage,
    find_leaking_group,
    group_check_triggers,
    group_leakage_message,
)
from driftloop.modelling.leakage import LeakageSuspected, check_leakage, single_feature_power
from driftloop.modelling.metrics import weighted_auc
from driftloop.modelling.training import TrainedModel, predict_proba, train_model

SETTINGS = TrainingParameters(max_rounds=200, cv_folds=2, min_data_in_leaf=20, num_threads=1)
ROWS, TRAIN = 3000, 2250  # the last quarter is the holdout
HONEST = ["x0", "x1", "x2", "x3"]
HISTOGRAM = [f"hist{bin_}" for bin_ in range(5)]


@dataclass(frozen=True)
class Trained:
    """Generated rows, split in time order, and the model trained on the first part, scored on the rest."""

    features: pd.DataFrame
    label: pd.Series
    times: pd.Series
    model: TrainedModel
    auc: float  # on the holdout

    def rows(self, every_row: bool = True) -> CheckedRows:
        return CheckedRows(
            train=self.features.iloc[:TRAIN],
            train_label=self.label.iloc[:TRAIN].to_numpy(),
            holdout=self.features.iloc[TRAIN:],
            holdout_label=self.label.iloc[TRAIN:].to_numpy(),
            every_row=every_row,
        )


def _trained(features: pd.DataFrame, label: pd.Series) -> Trained:
    times = pd.Series(pd.date_range("2013-01-01", periods=len(features), freq="h", tz="UTC"))
    spec = FeatureSpec(
        columns=tuple(FeatureColumn(name=name, kind="numeric") for name in features.columns),
        time_column="time",
        timezone="UTC",
        contract_name="synthetic",
        contract_fingerprint="0" * 64,
    )
    train = slice(0, TRAIN)
    model = train_model(features.iloc[train], label.iloc[train], times.iloc[train], spec, SETTINGS)
    holdout = label.iloc[TRAIN:].to_numpy()
    probability = predict_proba(model.booster(), features.iloc[TRAIN:])
    auc = float(weighted_auc(probability, holdout, 1.0 - holdout))
    return Trained(features=features, label=label, times=times, model=model, auc=auc)


@pytest.fixture(scope="module")
def leaky() -> Trained:
    """Four honest inputs, and a histogram of the very score the label is cut from (`score > 0`).

    Each row's histogram: the share of five noisy readings of its score in each of five bins. No bin says
    much alone; together they say which side of zero the score is on.
    """
    rng = np.random.default_rng(7)
    honest = rng.normal(size=(ROWS, 4))
    score = honest @ np.array([1.0, 0.8, 0.6, 0.4]) + rng.normal(scale=1.5, size=ROWS)
    readings = score[:, None] + rng.normal(scale=0.8, size=(ROWS, 5))
    bins = np.digitize(readings, [-2.0, -0.6, 0.6, 2.0])
    features = pd.DataFrame(
        {
            **{name: honest[:, i] for i, name in enumerate(HONEST)},
            **{name: (bins == i).mean(axis=1) for i, name in enumerate(HISTOGRAM)},
        }
    )
    return _trained(features, pd.Series((score > 0).astype(float)))


@pytest.fixture(scope="module")
def champion(leaky: Trained) -> float:
    """The holdout AUC of the model trained without the histogram: the champion a leak would beat."""
    return _trained(leaky.features[HONEST], leaky.label).auc


@pytest.fixture(scope="module")
def honest() -> Trained:
    """A strong model without a leak: ten independent inputs, each a modest part of the score."""
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=(ROWS, 10))
    score = inputs @ np.linspace(1.0, 0.6, 10) + rng.normal(scale=0.6, size=ROWS)
    features = pd.DataFrame({f"x{i}": inputs[:, i] for i in range(10)})
    return _trained(features, pd.Series((score > 0).astype(float)))


def _with(contract: Contract, **leakage: object) -> Contract:
    return contract.model_copy(update={"leakage": LeakageSpec.model_validate(leakage)})


def test_no_column_of_the_histogram_is_a_leak_on_its_own(
    leaky: Trained, champion: float, flights_contract: Contract
) -> None:
    features, label, times = leaky.features.iloc[:TRAIN], leaky.label.iloc[:TRAIN], leaky.times.iloc[:TRAIN]
    powers = {power.feature: power.auc for power in single_feature_power(features, label, times)}
    assert max(powers[name] for name in HISTOGRAM) < 0.9  # well below max_single_feature_auc (0.95)
    assert sum(powers[name] > 0.75 for name in HISTOGRAM) >= 3  # yet most of them say something
    check_leakage(features, label, times, flights_contract)  # so the single-feature guard passes them
    assert leaky.auc > 0.98 and 0.7 < champion < 0.8  # with the histogram, and without it


def test_a_histogram_of_the_score_blocks_training_by_its_columns(
    leaky: Trained, flights_contract: Contract
) -> None:
    with pytest.raises(GroupLeakageSuspected) as blocked:
        check_group_leakage(leaky.rows(), leaky.model, leaky.auc, None, flights_contract)
    check = blocked.value.check
    assert check is not None and isinstance(blocked.value, LeakageSuspected)  # the CLI's exit code 1
    group = list(check.group)
    assert len(group) >= 2 and set(group) <= set(HISTOGRAM)  # bins of the histogram, no honest input
    assert group == [step.dropped[-1] for step in check.steps]  # left out one at a time, strongest first
    without, alone = check.auc_without_group, check.group_alone
    assert without is not None and alone is not None
    assert check.reference_auc == leaky.auc and not check.sampled and check.rows == TRAIN
    assert without < 0.95 and all(step.auc >= 0.95 for step in check.steps[:-1])  # the first back
    assert alone.auc >= without and alone.dropped == tuple(n for n in leaky.features if n not in group)
    message = str(blocked.value)
    assert message.startswith(f"training blocked: {', '.join(group)} together restate `arr_delayed`")
    assert f"holdout AUC is {leaky.auc:.3f} with them and {without:.3f} without them" in message
    assert f"holdout AUC {leaky.auc:.3f} >= leakage.max_model_auc 0.95" in message
    assert "role: leakage" in message and "leakage.accepted" in message
    assert not any(name in message for name in HONEST)


def test_the_histogram_listed_under_accepted_passes_on_one_retraining(
    leaky: Trained, flights_contract: Contract
) -> None:
    accepting = _with(flights_contract, accepted=HISTOGRAM)
    check = check_group_leakage(leaky.rows(), leaky.model, leaky.auc, None, accepting)
    assert check is not None and not check.blocked and check.group == ()
    assert check.accepted_only is not None and check.accepted_only.dropped == tuple(HONEST)
    assert check.accepted_only.auc >= 0.95  # the accepted columns explain the AUC on their own
    assert check.steps == () and check.retrainings == 1
    assert "the accepted features alone" in check.finding


def test_a_strong_honest_model_passes_though_it_falls_back(
    honest: Trained, flights_contract: Contract
) -> None:
    assert honest.auc >= 0.95  # strong enough to be checked
    check = check_group_leakage(honest.rows(), honest.model, honest.auc, None, flights_contract)
    assert check is not None and check.group == () and check.steps
    last = check.steps[-1]
    assert last.auc < 0.95  # plausible again without its best feature(s): a naive rule would block here
    assert check.group_alone is not None and check.group_alone.auc < last.auc - 0.1  # they only add
    assert "not a restated label" in check.finding


def test_a_gain_over_the_champion_triggers_the_check(
    leaky: Trained, champion: float, flights_contract: Contract
) -> None:
    gain_only = _with(flights_contract, max_model_auc=0.999)  # the model's own AUC does not trigger
    assert leaky.auc < 0.999 and leaky.auc - champion >= 0.1
    assert find_leaking_group(leaky.rows(), leaky.model, leaky.auc, None, gain_only.leakage) is None
    close = leaky.auc - 0.05
    assert find_leaking_group(leaky.rows(), leaky.model, leaky.auc, close, gain_only.leakage) is None
    with pytest.raises(GroupLeakageSuspected) as blocked:
        check_group_leakage(leaky.rows(), leaky.model, leaky.auc, champion, gain_only)
    check = blocked.value.check
    assert check is not None and check.champion_auc == champion
    assert check.triggers == (
        f"{leaky.auc - champion:.3f} above the champion's {champion:.3f} on the same holdout, "
        ">= leakage.max_gain_over_champion 0.1",
    )
    assert set(check.group) <= set(HISTOGRAM)
    assert check.auc_without_group is not None and check.auc_without_group - champion < 0.1  # back near it
    assert f"the champion's {champion:.3f}" in str(blocked.value)


def test_the_retraining_with_every_feature_is_the_challenger_itself(
    leaky: Trained, flights_contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Told its rows are a sample (as on a cluster), the check retrains the model with every feature too:
    # on the very rows it was trained on, the recipe gives back the challenger's AUC exactly.
    guard = flights_contract.leakage
    every = find_leaking_group(leaky.rows(every_row=False), leaky.model, leaky.auc, None, guard)
    assert every is not None and every.sampled and every.reference_auc == leaky.auc
    monkeypatch.setattr(group_leakage, "MAX_ROWS", 1500)  # a window too large: a fixed-seed sample
    with pytest.raises(GroupLeakageSuspected) as blocked:
        check_group_leakage(leaky.rows(), leaky.model, leaky.auc, None, flights_contract)
    check = blocked.value.check
    assert check is not None and check.sampled and check.rows == 1500
    assert check.reference_auc != leaky.auc and check.reference_auc >= 0.95 > check.steps[-1].auc
    assert set(check.group) <= set(HISTOGRAM)
    assert f"{check.reference_auc:.3f} with them" in str(blocked.value)
    assert "retrained on a sample of 1,500 training rows" in str(blocked.value)


def test_the_check_is_repeatable_and_survives_a_pickle(leaky: Trained, flights_contract: Contract) -> None:
    guard = flights_contract.leakage
    first = find_leaking_group(leaky.rows(), leaky.model, leaky.auc, None, guard)
    assert first == find_leaking_group(leaky.rows(), leaky.model, leaky.auc, None, guard)
    assert first is not None and first.blocked
    error = GroupLeakageSuspected("training blocked: …", first)
    copied = pickle.loads(pickle.dumps(error))  # as a failed task's error may travel
    assert str(copied) == str(error) and copied.check == first


GAIN = "leakage.max_gain_over_champion 0.1"


@pytest.mark.parametrize(
    ("auc", "champion", "fired"),
    [
        (0.95, None, ("holdout AUC 0.950 >= leakage.max_model_auc 0.95",)),
        (0.9499, None, ()),
        (0.90, 0.79, ("0.110 above the champion's 0.790 on the same holdout, >= " + GAIN,)),
        (0.90, 0.81, ()),
        (float("nan"), 0.5, ()),
    ],
)
def test_the_triggers(auc: float, champion: float | None, fired: tuple[str, ...]) -> None:
    assert group_check_triggers(auc, champion, LeakageSpec()) == fired


def test_a_group_of_one_is_named_in_the_singular(flights_contract: Contract) -> None:
    check = GroupLeakageCheck(
        triggers=("holdout AUC 0.970 >= leakage.max_model_auc 0.95",),
        auc=0.97,
        champion_auc=None,
        reference_auc=0.97,
        rows=1000,
        sampled=False,
        steps=(DropStep(dropped=("ops_code",), auc=0.81),),
        group_alone=DropStep(dropped=("carrier", "distance"), auc=0.93),
        group=("ops_code",),
        finding="ops_code alone reach(es) AUC 0.930",
    )
    message = group_leakage_message(check, flights_contract, "training blocked")
    assert message.startswith(
        "training blocked: ops_code restates `arr_delayed`: on its own it reaches holdout AUC 0.930, at "
        "least as much as all other features together; the model's holdout AUC is 0.970 with it and 0.810 "
        "without it (checked because: holdout AUC 0.970 >= leakage.max_model_auc 0.95)."
    )
    assert check.retrainings == 2 and "BLOCKED" in check.summary()
