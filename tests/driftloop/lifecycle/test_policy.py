"""The retraining policy: which alarms retrain, the cooldown, and the words that say why."""

from __future__ import annotations

import pytest

from driftloop.core.settings import PolicySettings
from driftloop.lifecycle.monitoring import Alarm, DriftCheck, MonitoringVerdict, PerformanceCheck
from driftloop.lifecycle.policy import RetrainPolicy, backtest_policies, configured_policy, decide_retrain
from driftloop.modelling.drift import DriftSummary, FixedRuleVerdict

DRIFT = Alarm(detector="drift", reason="importance-weighted drift 1.40 >= 1.00", short="drift 1.40: carrier")
PERFORMANCE = Alarm(detector="performance", reason="realized AUC 0.6600 < 0.7000 - 0.0100", short="AUC 0.660")
BROKEN = Alarm(detector="breakage", reason="carrier: every value is 'UA'", short="carrier collapsed")


def _verdict(*alarms: Alarm) -> MonitoringVerdict:
    return MonitoringVerdict(
        dataset="flights",
        period="2013-07",
        model="flights-delay",
        model_version=3,
        data_version="ab" * 32,
        rows=100,
        sampled_rows=100,
        summary=DriftSummary(features=(), prediction=None, reference_rows=100, current_rows=100),
        fixed_rule=FixedRuleVerdict(drifted=False, reasons=("no drift trigger fired",)),
        drift=DriftCheck(
            columns=(), prediction=None, weighted_share=0.0, index=0.5, index_threshold=1.0, calibrated=True
        ),
        attribution=(),
        breakage=(),
        performance=PerformanceCheck(holdout_auc=0.7, floor=0.69, estimated=None, realized=0.72),
        alarms=alarms,
        live=None,
        reference_auc=0.7,
        report_key=None,
    )


def test_an_alarm_among_the_triggers_retrains_and_says_why() -> None:
    policy = RetrainPolicy(name="p", triggers=("drift", "performance"))

    decision = decide_retrain(_verdict(PERFORMANCE, BROKEN), policy, periods_since_training=4)

    assert decision.retrain and decision.alarms == ("performance",)
    assert decision.reasons == (PERFORMANCE.reason,)  # breakage is not a trigger of this policy
    assert decision.summary() == f"retrain: {PERFORMANCE.reason}"
    assert decision.why == "AUC 0.660"


def test_no_alarm_among_the_triggers_keeps_the_champion() -> None:
    decision = decide_retrain(_verdict(BROKEN), RetrainPolicy(name="p", triggers=("drift",)), 4)
    assert not decision.retrain and decision.alarms == ()
    assert decision.reasons == ("no alarm among drift",)


def test_the_cooldown_holds_an_alarm_back_and_says_so() -> None:
    policy = RetrainPolicy(name="p", triggers=("drift",), cooldown_periods=2)

    held = decide_retrain(_verdict(DRIFT), policy, periods_since_training=2)
    free = decide_retrain(_verdict(DRIFT), policy, periods_since_training=3)

    assert not held.retrain and held.alarms == ("drift",)  # the alarm still counts as an alarm
    assert held.reasons[-1] == "held back: 2 period(s) since the last training, cooldown 2"
    assert held.why == "drift 1.40: carrier; cooldown"
    assert free.retrain


def test_every_period_and_never() -> None:
    assert decide_retrain(_verdict(), RetrainPolicy(name="e", triggers=("every-period",)), 1).retrain
    never = decide_retrain(_verdict(DRIFT, PERFORMANCE), RetrainPolicy(name="n", triggers=()), 1)
    assert not never.retrain and never.reasons == ("no alarm among no triggers",)


def test_the_backtest_compares_the_reflexes_each_detector_and_the_configured_policy() -> None:
    settings = PolicySettings(triggers=("performance",), cooldown_periods=1)
    policies = backtest_policies(settings, window_periods=3)

    assert [p.name for p in policies] == [
        "never", "every-period", "fixed-drift", "calibrated-drift", "performance", "configured",
    ]  # fmt: skip
    assert policies[-1] == configured_policy(settings, window_periods=3)
    assert policies[-1].describe() == "configured: retrain on performance or age 3, then wait 1 period(s)"


def test_the_default_policy_retrains_on_drift_or_performance_or_a_window_of_age() -> None:
    default = configured_policy(PolicySettings(), window_periods=3)
    assert (default.triggers, default.cooldown_periods, default.max_age_periods) == (
        ("drift", "performance"),
        0,
        3,
    )
    assert configured_policy(PolicySettings(max_age_periods=0), window_periods=3).max_age_periods is None


def test_a_model_as_old_as_its_window_is_retrained_and_the_reason_says_so() -> None:
    policy = RetrainPolicy(name="p", triggers=("drift",), max_age_periods=3)

    young = decide_retrain(_verdict(), policy, periods_since_training=2)
    old = decide_retrain(_verdict(), policy, periods_since_training=3)

    assert not young.retrain and young.reasons == ("no alarm among drift",)
    assert old.retrain and old.alarms == ("age",)
    assert old.reasons == ("the model's training ended 3 period(s) ago (max age 3)",)
    assert old.why == "age 3"


def test_an_unknown_trigger_is_refused_by_settings() -> None:
    with pytest.raises(ValueError, match="triggers"):
        PolicySettings(triggers=("vibes",))  # type: ignore[arg-type]
