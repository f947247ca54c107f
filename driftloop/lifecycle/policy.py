"""The retraining policy: which of monitoring's alarms start a retraining, and how often at most.

An alarm says something moved; a policy decides whether that is worth a retraining. Every decision names
the policy and the alarms behind it, so a retraining can always answer "why?".
"""

from __future__ import annotations

from driftloop.core import layout
from driftloop.core.records import Record
from driftloop.core.settings import PolicySettings
from driftloop.core.storage import PreconditionFailed, Storage, read_if_exists
from driftloop.lifecycle.monitoring import MonitoringVerdict

Trigger = str  # a detector name ("drift", "performance", "breakage", "fixed-drift") or "every-period"


class RetrainPolicy(Record):
    """A named policy: the alarms that retrain, and the periods to wait after a retraining."""

    name: str
    triggers: tuple[Trigger, ...]
    cooldown_periods: int = 0
    max_age_periods: int | None = None  # also retrain a model this many periods after its training

    def describe(self) -> str:
        when = [*self.triggers, *([f"age {self.max_age_periods}"] if self.max_age_periods else [])]
        cooldown = f", then wait {self.cooldown_periods} period(s)" if self.cooldown_periods else ""
        return f"{self.name}: retrain on {' or '.join(when) or 'never'}{cooldown}"


def configured_policy(settings: PolicySettings, window_periods: int) -> RetrainPolicy:
    """The configured policy; its maximum age defaults to the training window's length."""
    age = window_periods if settings.max_age_periods is None else settings.max_age_periods
    return RetrainPolicy(
        name="configured",
        triggers=tuple(settings.triggers),
        cooldown_periods=settings.cooldown_periods,
        max_age_periods=age or None,
    )


def backtest_policies(settings: PolicySettings, window_periods: int) -> list[RetrainPolicy]:
    """The policies a backtest compares: the reflexes, each detector alone, and the configured one."""
    return [
        RetrainPolicy(name="never", triggers=()),
        RetrainPolicy(name="every-period", triggers=("every-period",)),
        RetrainPolicy(name="fixed-drift", triggers=("fixed-drift",)),
        RetrainPolicy(name="calibrated-drift", triggers=("drift",)),
        RetrainPolicy(name="performance", triggers=("performance",)),
        configured_policy(settings, window_periods),
    ]


class RetrainDecision(Record):
    """Whether a period's monitoring starts a retraining under a policy, and why, with the numbers."""

    period: str
    model_version: int
    policy: RetrainPolicy
    retrain: bool
    alarms: tuple[str, ...]  # the policy's triggers that fired
    reasons: tuple[str, ...]
    why: str  # the reasons in a few words, for a table cell

    def short(self) -> str:
        return self.why

    def summary(self) -> str:
        """One line: the decision and its reasons."""
        head = "retrain" if self.retrain else "no retrain"
        return f"{head}: {'; '.join(self.reasons)}"


def decide_retrain(
    verdict: MonitoringVerdict, policy: RetrainPolicy, periods_since_training: int | None
) -> RetrainDecision:
    """Apply `policy` to a period's verdict.

    Args:
        verdict: the period's monitoring verdict (late labels already realized into it when known).
        policy: the alarms that retrain and the cooldown.
        periods_since_training: periods between the newest training's last period and this one (1 = the
            period right after it); None when nothing was trained yet.

    Returns:
        The decision; `alarms` lists the triggers that fired even when the cooldown holds them back.
    """
    fired = [trigger for trigger in policy.triggers if trigger == "every-period" or verdict.fired(trigger)]
    mine = [signal for signal in verdict.signals() if signal.detector in policy.triggers]
    reasons = [alarm.reason for alarm in mine]
    shorts = [alarm.short for alarm in mine]
    if "every-period" in fired:
        reasons.insert(0, "every period is retrained")
        shorts.insert(0, "every period")
    aged = policy.max_age_periods is not None and (periods_since_training or 0) >= policy.max_age_periods
    if aged:
        fired.append("age")
        reasons.append(
            f"the model's training ended {periods_since_training} period(s) ago "
            f"(max age {policy.max_age_periods})"
        )
        shorts.append(f"age {periods_since_training}")
    if not fired:
        reasons.append(f"no alarm among {', '.join(policy.triggers) or 'no triggers'}")
    cooling = (
        bool(fired)
        and periods_since_training is not None
        and periods_since_training <= policy.cooldown_periods
    )
    if cooling:
        reasons.append(
            f"held back: {periods_since_training} period(s) since the last training, cooldown "
            f"{policy.cooldown_periods}"
        )
        shorts.append("cooldown")
    return RetrainDecision(
        period=verdict.period,
        model_version=verdict.model_version,
        policy=policy,
        retrain=bool(fired) and not cooling,
        alarms=tuple(fired),
        reasons=tuple(reasons),
        why="; ".join(shorts),
    )


def decide_with_late_labels(
    verdict: MonitoringVerdict,
    late: MonitoringVerdict | None,
    policy: RetrainPolicy,
    periods_since_training: int | None,
) -> RetrainDecision:
    """Decide on this period; if it does not retrain, the labels that arrive now for an earlier period may.

    Args:
        verdict: this period's verdict (its own labels may not be known yet).
        late: the earlier period's verdict with its labels realized, when they arrive now for the same
            champion; None otherwise.
        policy: the alarms that retrain and the cooldown.
        periods_since_training: as for `decide_retrain`.

    Returns:
        This period's decision, or the late verdict's performance alarm on this period's behalf.
    """
    decision = decide_retrain(verdict, policy, periods_since_training)
    if late is None or decision.retrain:
        return decision
    on_late = decide_retrain(late, policy, periods_since_training)
    if "performance" in on_late.alarms:
        return on_late.model_copy(update={"period": verdict.period})
    return decision


def decide_once(
    storage: Storage,
    verdict: MonitoringVerdict,
    late: MonitoringVerdict | None,
    policy: RetrainPolicy,
    periods_since_training: int | None,
) -> tuple[RetrainDecision, bool]:
    """One decision per model and period, kept create-only: a rerun, or a second run at once, gets it back.

    Args:
        storage: where decisions are kept (`layout.retrain_decision`).
        verdict, late, policy, periods_since_training: as for `decide_with_late_labels`.

    Returns:
        The decision on record, and whether this call made it (False: an earlier or concurrent run did).
    """
    key = layout.retrain_decision(verdict.dataset, verdict.period, verdict.model, verdict.served is not None)
    recorded = read_if_exists(storage, key)
    if recorded is not None:
        return RetrainDecision.from_json(recorded), False
    decision = decide_with_late_labels(verdict, late, policy, periods_since_training)
    try:
        storage.write_bytes(key, decision.to_json().encode(), if_absent=True)
    except PreconditionFailed:  # another run decided this period first: its decision stands
        return RetrainDecision.from_json(storage.read_bytes(key)), False
    return decision, True
