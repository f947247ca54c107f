"""What drafting a contract reads and produces: the request, each inference with its evidence, the draft."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from driftloop.core.contract import ColumnSpec, ColumnType, Contract
from driftloop.core.periods import PeriodKind
from driftloop.core.records import Record


class DraftRefused(ValueError):
    """The file or the request cannot make a contract (a column the file lacks, a label rule that does not
    fit the target); the message names the option and what to do."""


class DraftRequest(Record):
    """What `driftloop contract init` is asked: the file and the columns a person must name."""

    source: str = Field(description="the file (or glob) as given: the draft's source.path")
    time_column: str
    target_column: str
    positive_above: float | None = None
    positive_value: str | None = Field(default=None, description="as typed; read as the target column's type")
    period: PeriodKind | None = None
    name: str | None = None


class TimeForm(Record):
    """How the time column is written, and what a contract says to read it."""

    column_type: ColumnType
    format: str | None
    written: str = Field(description="for a person: 'ISO-8601 text', 'text like 2012/01/01 (%Y/%m/%d)'")
    instants: bool = Field(description="the times carry an offset or count from the epoch: one instant each")
    timezone: str = Field(description="UTC, or the zone the values themselves name")
    offsets: tuple[str, ...] = Field(default=(), description="the offsets the values carry, if any")
    also_reads: tuple[str, ...] = Field(default=(), description="other formats that read every value too")


class PeriodChoice(Record):
    kind: PeriodKind
    inferred: bool
    span: int = Field(description="periods from the file's first to its last")
    counts: dict[str, int] = Field(description="rows of each period that holds some, oldest first")
    why: str


class RowBounds(Record):
    min: int
    max: int
    low: float = Field(description="10th percentile of rows per period, the file's first and last aside")
    high: float = Field(description="90th percentile")


class ColumnDraft(Record):
    """One column's rule in the draft, and the evidence for it."""

    name: str
    spec: ColumnSpec
    note: str
    feature: Literal["numeric", "categorical"] | None = None
    excluded: str | None = Field(default=None, description="why it is no feature (None for the time, target)")
    outlier: str | None = None


class LeakSuspect(Record):
    """Columns suspected of leaking the label, alone or together."""

    columns: tuple[str, ...]
    evidence: str = Field(description="why, in one line")
    notes: dict[str, str] = Field(description="each column's comment")


class LeakScreen(Record):
    """What the leak checks found: the suspects, and each screened column's out-of-time AUC alone."""

    suspects: tuple[LeakSuspect, ...]
    powers: dict[str, float]


class Decision(Record):
    """One thing a person must still decide about the draft."""

    topic: str
    text: str


class Draft(Record):
    """A drafted contract with a one-line comment per rule (by YAML path) and what is left to decide."""

    contract: Contract
    comments: dict[str, str] = Field(description="'time.period', 'columns.date', ... -> the rule's comment")
    header: tuple[str, ...]
    decisions: tuple[Decision, ...]
    rows: int


class PeriodVerdict(Record):
    period: str
    rows: int
    broken: tuple[str, ...] = Field(description="'column: rule (observed)' of each broken rule")


class DraftCheck(Record):
    """The gate's verdicts on the periods of the file a draft was drawn from."""

    kind: PeriodKind
    periods: int = Field(description="periods of the file that hold rows")
    verdicts: tuple[PeriodVerdict, ...] = Field(description="of the periods checked")
    unplaced: int = Field(description="rows whose time does not read: in no period")

    @property
    def failed(self) -> list[PeriodVerdict]:
        return [verdict for verdict in self.verdicts if verdict.broken]

    def summary(self) -> str:
        """One line: how many of the checked periods pass."""
        checked = len(self.verdicts)
        sample = "" if checked == self.periods else f" (checked {checked} of {self.periods}, spread over it)"
        return f"the draft passes {checked - len(self.failed)} of {checked} {self.kind}s of the file{sample}"


def number_text(value: float, exact: bool = False) -> str:
    """1.0 -> "1", 1e-05 -> "0.00001", 0.30000000000000004 -> "0.3" (six digits after the point; `exact`:
    every digit that reads back as the same float): numbers as a person writes them, never in exponents."""
    text = np.format_float_positional(float(value), precision=None if exact else 6, trim="-")
    return text.rstrip(".")
