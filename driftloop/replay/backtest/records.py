"""What a backtest found: per policy, per period, and the totals people compare."""

from __future__ import annotations

from driftloop.core.records import Record
from driftloop.lifecycle.step import PeriodOutcome


class PolicyRun(Record):
    """A policy's whole replay and its totals."""

    policy: str
    description: str
    default: bool  # the configured policy, the one `driftloop run` uses
    alarms: int
    retrains: int
    promotions: int
    mean_auc: float | None
    worst_auc: float | None
    train_seconds: float  # time its retrainings took (each timed once, however many policies share it)
    periods: tuple[PeriodOutcome, ...]

    def estimate_errors(self) -> list[float]:
        """Estimated minus realized AUC of the live champion, per period that has both."""
        return [
            p.estimated_auc - p.champion_auc
            for p in self.periods
            if p.estimated_auc is not None and p.champion_auc is not None
        ]

    def summary(self) -> dict[str, object]:
        """The totals, for `--json` and the table."""
        return self.model_dump(mode="json", exclude={"periods"})


class BacktestResult(Record):
    dataset: str
    period_kind: str
    initial: tuple[str, ...]
    replay: tuple[str, ...]
    label_delay: int
    runs: tuple[PolicyRun, ...]
