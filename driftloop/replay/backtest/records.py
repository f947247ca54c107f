"""What a backtest found: per policy, per period, and the totals people compare."""

from __future__ import annotations

from driftloop.core.records import Record


class BacktestPeriod(Record):
    """One period of one policy's replay."""

    period: str
    status: str  # "ok", or "blocked" when the gate quarantined the batch
    champion: str  # the candidate serving, named by the period its window ends at ("2013-03")
    auc: float | None  # the live champion's realized AUC on the period
    estimated_auc: float | None = None  # what the champion's calibrated probabilities promised, label-free
    alarmed: bool
    retrained: bool
    promoted: bool
    reasons: tuple[str, ...]


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
    periods: tuple[BacktestPeriod, ...]

    def estimate_errors(self) -> list[float]:
        """Estimated minus realized AUC of the live champion, per period that has both."""
        return [
            p.estimated_auc - p.auc for p in self.periods if p.estimated_auc is not None and p.auc is not None
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
