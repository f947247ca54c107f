"""The leakage guard catches a label in disguise and lets real features and accepted columns through."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract, LeakageSpec
from driftloop.modelling.leakage import LeakageSuspected, check_leakage, single_feature_power


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """2,000 time-ordered rows: a weak real signal, noise, and the label itself lightly disguised."""
    rng = np.random.default_rng(11)
    n = 2000
    signal = rng.normal(size=n)
    label = pd.Series((signal + rng.normal(scale=2.0, size=n) > 0).astype(float))
    features = pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "minutes_late": label * 30 + rng.normal(scale=3.0, size=n),  # the outcome, renamed
            "status": pd.Categorical(np.where(label == 1, "late", "on time")),
        }
    )
    times = pd.Series(pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC"))
    return features, label, times


def test_power_ranks_the_disguised_label_first(rows: tuple[pd.DataFrame, pd.Series, pd.Series]) -> None:
    features, label, times = rows
    powers = {p.feature: round(p.auc, 3) for p in single_feature_power(features, label, times)}
    assert powers["minutes_late"] == 1.0 and powers["status"] == 1.0
    assert 0.6 < powers["signal"] < 0.8  # a real, modest signal
    assert powers["noise"] < 0.56  # noise is near 0.5 either way


def test_a_disguised_label_blocks_training_with_its_name(
    rows: tuple[pd.DataFrame, pd.Series, pd.Series], flights_contract: Contract
) -> None:
    features, label, times = rows
    with pytest.raises(LeakageSuspected) as blocked:
        check_leakage(features, label, times, flights_contract)
    message = str(blocked.value)
    assert "minutes_late (AUC 1.000)" in message and "status (AUC 1.000)" in message
    assert "signal" not in message and "leakage.accepted" in message


def test_accepted_features_pass(
    rows: tuple[pd.DataFrame, pd.Series, pd.Series], flights_contract: Contract
) -> None:
    features, label, times = rows
    accepting = flights_contract.model_copy(
        update={"leakage": LeakageSpec(accepted=["minutes_late", "status"])}
    )
    check_leakage(features, label, times, accepting)  # no error
    check_leakage(features[["signal", "noise"]], label, times, flights_contract)


def test_a_numeric_copy_of_the_label_with_two_values_is_seen() -> None:
    """Quantile edges of a 0/1 column collapse into one bin: the guard used to score it 0.5."""
    rng = np.random.default_rng(5)
    label = pd.Series((rng.random(2000) < 0.3).astype(float))
    features = pd.DataFrame({"flag": label.to_numpy(), "noise": rng.normal(size=2000)})
    times = pd.Series(pd.date_range("2013-01-01", periods=2000, freq="h"))
    powers = {p.feature: round(p.auc, 3) for p in single_feature_power(features, label, times)}
    assert powers["flag"] == 1.0 and powers["noise"] < 0.6
