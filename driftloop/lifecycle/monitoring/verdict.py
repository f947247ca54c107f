"""What monitoring concludes about one period: each detector's numbers, the alarms, and on which data."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from driftloop.core.records import Record
from driftloop.modelling.drift import DriftSummary, FixedRuleVerdict
from driftloop.modelling.drift.breakage import Breakage
from driftloop.modelling.metrics import Headline
from driftloop.modelling.performance import AucEstimate

Detector = Literal["drift", "performance", "breakage", "fixed-drift"]


class ColumnCheck(Record):
    """One column's drift score against its calibrated threshold, and how much the model relies on it."""

    column: str
    method: str
    score: float
    threshold: float
    weight: float
    drifted: bool


class DriftCheck(Record):
    """Calibrated, attribution-weighted drift of one period.

    `index` is the importance-weighted mean of score / threshold over the features: 1.0 means the inputs,
    weighted by how much the model uses them, moved as far as they naturally moved within its training
    window. One feature the model relies on that moved far raises it as much as many minor ones that moved
    a little, which a plain share of drifted columns cannot express.
    """

    columns: tuple[ColumnCheck, ...]
    prediction: ColumnCheck | None
    weighted_share: float  # the summed weights of the drifted features (reported)
    index: float  # sum of weight * score / threshold (the alarm)
    index_threshold: float
    calibrated: bool  # False for a model stored without yardsticks: the fixed threshold stands in

    @property
    def drifted_columns(self) -> tuple[ColumnCheck, ...]:
        return tuple(sorted((c for c in self.columns if c.drifted), key=lambda c: -c.weight))


class AttributionChange(Record):
    """How much one feature's mean |contribution| moved from training to this period."""

    column: str
    reference: float
    current: float

    @property
    def change(self) -> float:
        return self.current / self.reference - 1 if self.reference > 0 else 0.0


class PerformanceCheck(Record):
    """The period's AUC, realized or estimated, against the floor set by the holdout's interval."""

    holdout_auc: float
    floor: float  # holdout AUC minus the 95% noise of the holdout and of a period this size
    estimated: AucEstimate | None
    realized: float | None  # None until the labels are known

    @property
    def estimate_error(self) -> float | None:
        """Estimated minus realized AUC, once both exist."""
        if self.estimated is None or self.realized is None:
            return None
        return round(self.estimated.expected - self.realized, 6)


class Alarm(Record):
    """A detector that fired, with its reason in one sentence with the numbers."""

    detector: Detector
    reason: str
    short: str  # a few words for a table cell: "AUC 0.660 < 0.690"


class ServedSummary(Record):
    """What the service served in a period, read from its prediction log: a verdict with one is "served"."""

    predictions: int  # predictions whose record's time falls in the period, by every version
    by_version: dict[str, int]  # "v1" -> predictions it served
    monitored_version: int  # the version whose predictions were monitored (the champion's when it served)
    labelled: int  # of those, how many found their outcome in the label source
    refused_records: int  # records the contract refused in requests served during the period
    refusals: dict[str, int]  # "field: rule" -> records refused for it
    lookup_misses: int  # monitored predictions whose reference-table lookup found nothing
    # The shadow challenger (`DRIFTLOOP_SERVE_SHADOW`) against the champion, on the monitored predictions it
    # also scored; verdicts stored before shadows were logged read as having none.
    shadow_version: int | None = None  # the newest version that shadowed the monitored predictions
    shadow_predictions: int = 0  # monitored predictions it scored too
    shadow_rows: int = 0  # of those, the ones whose outcome arrived: what the two AUCs are measured on
    shadow_auc: float | None = None  # the shadow's AUC on those rows (None: none, or one class only)
    champion_auc_on_shadow_rows: float | None = None  # the champion's, on the same rows

    @property
    def monitored(self) -> int:
        return self.by_version.get(f"v{self.monitored_version}", 0)

    @property
    def join_rate(self) -> float:
        return self.labelled / self.monitored if self.monitored else 0.0


class MonitoringVerdict(Record):
    """What monitoring concluded about one period for one model version, and on which data."""

    dataset: str
    period: str
    model: str
    model_version: int
    data_version: str  # SHA-256 of the batch that was monitored
    rows: int
    sampled_rows: int  # rows (fixed seed) the drift statistics were computed on
    summary: DriftSummary  # Evidently's per-column scores at the fixed threshold
    # The old fixed-threshold rule, kept for comparison: never an alarm, but a backtest policy can use it.
    fixed_rule: FixedRuleVerdict = Field(validation_alias=AliasChoices("fixed_rule", "decision"))
    drift: DriftCheck
    attribution: tuple[AttributionChange, ...]
    breakage: tuple[Breakage, ...]
    performance: PerformanceCheck
    alarms: tuple[Alarm, ...]  # the detectors that fired (the fixed rule is not one of them)
    live: Headline | None  # performance on the period's labels, once they are known
    reference_auc: float  # the model's holdout AUC at training
    report_key: str | None  # Evidently's HTML report in the store
    served: ServedSummary | None = None  # set when the period's prediction log was monitored, not its batch

    @model_validator(mode="before")
    @classmethod
    def _fixed_rule_apart(cls, data: object) -> object:
        """Verdicts before v0.5 listed the fixed rule among the alarms; it is `fixed_rule` alone now."""
        if isinstance(data, dict) and any(_is_fixed(alarm) for alarm in data.get("alarms") or ()):
            return {**data, "alarms": [alarm for alarm in data["alarms"] if not _is_fixed(alarm)]}
        return data

    @property
    def comparison(self) -> Alarm | None:
        """The fixed rule's finding as an alarm-shaped record, when it fired (for policies that use it)."""
        if not self.fixed_rule.drifted:
            return None
        return Alarm(
            detector="fixed-drift", reason="; ".join(self.fixed_rule.reasons), short="fixed thresholds"
        )

    def signals(self) -> tuple[Alarm, ...]:
        """What a retraining policy can trigger on: the alarms, then the fixed rule's comparison."""
        comparison = self.comparison
        return (*self.alarms, comparison) if comparison else self.alarms

    def fired(self, detector: Detector) -> bool:
        return any(signal.detector == detector for signal in self.signals())

    @property
    def drifted(self) -> bool:
        """The calibrated drift detector fired."""
        return self.fired("drift")


def _is_fixed(alarm: Any) -> bool:
    detector = alarm.get("detector") if isinstance(alarm, dict) else getattr(alarm, "detector", None)
    return detector == "fixed-drift"
