"""What a person reads of a verdict: the headline counts alarms, never the fixed rule that only compares."""

from __future__ import annotations

import json

from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.policy import RetrainPolicy, decide_retrain
from driftloop.lifecycle.report import retrain_markdown, verdict_markdown
from driftloop.modelling.drift import FixedRuleVerdict
from tests.driftloop.lifecycle.test_policy import DRIFT, PERFORMANCE, _verdict

FIXED = FixedRuleVerdict(drifted=True, reasons=("9 of 13 features drifted (69.23%) >= 50% threshold",))


def test_a_period_where_only_the_fixed_rule_fired_has_no_alarm() -> None:
    verdict = _verdict().model_copy(update={"fixed_rule": FIXED})
    text = verdict_markdown(verdict)
    assert text.splitlines()[0] == "## 2013-07: model v3, no alarm"
    assert "- none" in text.splitlines()[2]
    assert f"Fixed rule (for comparison): {FIXED.reasons[0]}" in text
    assert verdict.alarms == () and verdict.fired("fixed-drift")  # a policy can still use it


def test_the_headline_counts_the_detectors_that_fired() -> None:
    assert verdict_markdown(_verdict(DRIFT)).splitlines()[0] == "## 2013-07: model v3, 1 alarm"
    two = _verdict(DRIFT, PERFORMANCE).model_copy(update={"fixed_rule": FIXED})
    assert verdict_markdown(two).splitlines()[0] == "## 2013-07: model v3, 2 alarms"


def test_the_fixed_drift_policy_still_triggers_on_the_comparison() -> None:
    verdict = _verdict().model_copy(update={"fixed_rule": FIXED})
    decision = decide_retrain(verdict, RetrainPolicy(name="fixed-drift", triggers=("fixed-drift",)), 3)
    assert decision.retrain and decision.alarms == ("fixed-drift",)
    assert decision.reasons == FIXED.reasons and decision.why == "fixed thresholds"


def test_a_verdict_stored_before_the_split_loads_with_the_fixed_rule_apart() -> None:
    stored = json.loads(_verdict(DRIFT).model_copy(update={"fixed_rule": FIXED}).to_json())
    stored["decision"] = stored.pop("fixed_rule")  # the field's name until v0.5
    stored["alarms"].append(
        {"detector": "fixed-drift", "reason": FIXED.reasons[0], "short": "fixed thresholds"}
    )
    verdict = MonitoringVerdict.model_validate(stored)
    assert [alarm.detector for alarm in verdict.alarms] == ["drift"]
    assert verdict.fixed_rule == FIXED and verdict.comparison is not None


def test_a_retraining_decision_reads_verdict_first_then_policy_and_reasons() -> None:
    decision = decide_retrain(_verdict(PERFORMANCE), RetrainPolicy(name="p", triggers=("performance",)), 2)
    assert retrain_markdown(decision).splitlines() == [
        "## 2013-07: RETRAIN",
        "",
        "Policy: p: retrain on performance",
        "",
        f"- {PERFORMANCE.reason}",
    ]
