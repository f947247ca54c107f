"""The one feature function, used identically by training, batch scoring and online serving.

`fit_feature_spec` freezes what must not change between training and scoring (the category levels,
the time zone of calendar features); `build_features` turns an enriched batch into the model matrix.
The spec is saved as JSON next to the model, so a model always scores with the features it was
trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from driftloop.contract import Contract
from driftloop.times import local_times

FEATURE_CODE_VERSION = "features-v1"  # bump when build_features changes meaning; part of cache keys


@dataclass(frozen=True)
class FeatureColumn:
    name: str
    kind: Literal["numeric", "categorical"]
    derive: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to rebuild the model matrix exactly as at training time."""

    columns: tuple[FeatureColumn, ...]
    time_column: str
    timezone: str
    contract_name: str
    contract_fingerprint: str
    code_version: str = FEATURE_CODE_VERSION
    time_format: str | None = None  # the contract's `time.format`, for times that are not ISO-8601

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def numeric(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "categorical"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data = json.loads(text)
        columns = tuple(
            FeatureColumn(**{**column, "categories": tuple(column["categories"])})
            for column in data.pop("columns")
        )
        return cls(columns=columns, **data)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def _calendar(times: pd.Series, part: str) -> pd.Series:
    if part == "day_of_week":
        return times.dt.dayofweek.astype("Int64").astype(str).where(times.notna())
    if part == "hour":
        return times.dt.hour.astype(float)
    if part == "day_of_month":
        return times.dt.day.astype(float)
    if part == "month":
        return times.dt.month.astype(float)
    raise ValueError(f"unknown calendar feature {part!r}")


def _category_text(values: pd.Series) -> pd.Series:
    """Category levels as text, the same whatever the batch: 1 and 1.0 (an int column with a NaN) are "1"."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        text = numbers.map(
            lambda v: str(int(v)) if float(v).is_integer() else repr(float(v)), na_action="ignore"
        )
        return text.astype(object)
    return values.astype("string").astype(object).where(values.notna())


def _raw_values(frame: pd.DataFrame, column: FeatureColumn, spec: FeatureSpec) -> pd.Series:
    if column.derive is not None:
        return _calendar(local_times(frame, spec.time_column, spec.timezone, spec.time_format), column.derive)
    if column.name not in frame.columns:
        raise KeyError(f"feature {column.name!r} is missing from the input")
    return frame[column.name]


def fit_feature_spec(training: pd.DataFrame, contract: Contract) -> FeatureSpec:
    """Freeze category levels from the training data (sorted, so the same data gives the same spec).

    Args:
        training: enriched training rows.
        contract: the data contract that declares the features.

    Returns:
        The spec to save with the model.
    """
    partial = FeatureSpec(
        columns=tuple(FeatureColumn(f.name, f.kind, f.derive) for f in contract.features),
        time_column=contract.time.column,
        timezone=contract.time.timezone,
        time_format=contract.time.format,
        contract_name=contract.name,
        contract_fingerprint=contract.fingerprint,
    )
    columns = []
    for column in partial.columns:
        if column.kind == "categorical":
            values = _category_text(_raw_values(training, column, partial)).dropna()
            column = FeatureColumn(column.name, column.kind, column.derive, tuple(sorted(values.unique())))
        columns.append(column)
    return FeatureSpec(
        columns=tuple(columns),
        time_column=partial.time_column,
        timezone=partial.timezone,
        time_format=partial.time_format,
        contract_name=partial.contract_name,
        contract_fingerprint=partial.contract_fingerprint,
    )


def build_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model matrix: numeric as float64, categoricals with the spec's fixed levels (unseen -> NaN).

    Args:
        frame: enriched rows (batch joined with reference tables), any extra columns ignored.
        spec: the frozen feature spec of the model.

    Returns:
        A new DataFrame with exactly `spec.names` columns, in order, same index as `frame`.
    """
    values = feature_values(frame, spec)
    for column in spec.columns:
        if column.kind == "categorical":
            values[column.name] = values[column.name].astype(pd.CategoricalDtype(list(column.categories)))
    return values


def feature_values(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's inputs before the fixed levels: numeric as float64, categoricals as their text.

    `build_features` turns a category level the model never saw into missing; monitoring needs to see
    that value by name (a new value that takes over a column is an upstream change, not noise).
    """
    out: dict[str, pd.Series] = {}
    for column in spec.columns:
        values = _raw_values(frame, column, spec)
        if column.kind == "numeric":
            out[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            out[column.name] = _category_text(values)
    return pd.DataFrame(out, index=frame.index)
