"""A model ready to serve: verified once, then scoring requests with the batch path's own feature code.

A `ServedModel` bundles what one request needs and never changes: the version's booster and feature
spec (their SHA-256 checked by the registry), the request schema of the contract it was trained under
and its Arrow checker, its feature encoder and the reference lookups. Hot swapping replaces the whole
bundle, so a request sees one version from start to end. A JSON body's records and an Arrow body's columns
become the same typed columns (`record_columns`), scored by one `score_columns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from driftloop.core.clock import now_utc
from driftloop.core.contract import Contract
from driftloop.core.missing import Factorized
from driftloop.data.enrichment import References
from driftloop.modelling.features import FeatureEncoder, FeatureSpec
from driftloop.online.arrow import ArrowChecker
from driftloop.online.problems import refused, times_that_cannot_exist
from driftloop.online.schema import RequestSchema, record_columns, request_schema
from driftloop.registry import LoadedModel, ModelVersion


class ModelRefused(Exception):
    """A registered model this service will not serve; the message says why."""


@dataclass(frozen=True)
class Scored:
    """One request scored: a probability per record, its inputs as typed columns, the lookup misses."""

    probabilities: np.ndarray
    columns: dict[str, np.ndarray]
    inputs: dict[str, Any]  # the columns plus the joined reference columns: what the encoder read
    matrix: np.ndarray
    misses: dict[str, int]
    coded: dict[str, Factorized]  # the columns that came factorized (an Arrow body's texts)


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: str | float | None
    contribution: float  # log-odds, LightGBM's pred_contrib


class ServedModel:
    """One verified model with everything a request needs; immutable once built."""

    def __init__(
        self,
        loaded: LoadedModel,
        contract: Contract,
        references: References,
        max_records: int,
        threads: int = 1,
    ) -> None:
        self.version: ModelVersion = loaded.version
        self.booster: lgb.Booster = loaded.booster
        self.spec: FeatureSpec = loaded.spec
        self.contract = contract
        self.references = references
        self.threads = threads
        self.schema: RequestSchema = request_schema(contract, max_records)
        self.encoder = FeatureEncoder(loaded.spec)
        self.arrow = ArrowChecker(self.schema, self.encoder.unreadable_times)
        self.loaded_at = now_utc()
        _verify(self)

    @property
    def label(self) -> str:
        return self.version.label

    def records(self, body: bytes) -> list[dict[str, Any]]:
        """The body's records, checked against the contract; `RequestRefused` naming each broken rule."""
        try:
            records: list[dict[str, Any]] = self.schema.adapter.validate_json(body)["records"]
        except ValidationError as error:
            raise refused(error, self.schema) from None
        column = self.contract.time.column
        if column in self.schema.fields:
            times = np.array([record.get(column) for record in records], dtype=object)
            impossible = np.flatnonzero(self.encoder.unreadable_times(times))
            if len(impossible):
                raise times_that_cannot_exist(self.contract, impossible.tolist(), times)
        return records

    def columns(self, table: pa.Table) -> tuple[dict[str, np.ndarray], dict[str, Factorized]]:
        """An Arrow body's columns, checked against the contract column by column and typed as the same
        records in JSON would be, and its text columns factorized; `RequestRefused` naming each broken rule
        and its rows."""
        return self.arrow.columns(table)

    def score(self, records: list[dict[str, Any]]) -> Scored:
        """Probabilities in record order: columns, reference lookups, the feature encoder, the booster."""
        return self.score_columns(record_columns(self.schema, records))

    def score_columns(
        self, columns: dict[str, np.ndarray], coded: dict[str, Factorized] | None = None
    ) -> Scored:
        """Probabilities in row order of typed request columns (`record_columns`, `columns`); `coded`:
        some of them factorized already (`columns`), read instead of hashing their values again."""
        coded = coded or {}
        joined, misses = self.references.join(columns, coded)
        inputs = {**columns, **joined}
        matrix = self.encoder.matrix(inputs, coded)
        probabilities = np.asarray(self.booster.predict(matrix, num_threads=self.threads), dtype=np.float64)
        return Scored(probabilities, columns, inputs, matrix, misses, coded)

    def score_alongside(self, champion: ServedModel, scored: Scored) -> np.ndarray:
        """This model's probabilities for the rows `champion` scored (a shadow's), in the same order.

        The champion's feature matrix is reused when both were trained with the same feature spec (the
        same file); otherwise this model builds its own from the same request columns, with its own
        lookups when its contract joins other tables, and its own encoder.
        """
        if self.version.files.spec == champion.version.files.spec:
            matrix = scored.matrix
        elif self.references is champion.references:
            matrix = self.encoder.matrix(scored.inputs, scored.coded)
        else:
            joined, _ = self.references.join(scored.columns, scored.coded)
            matrix = self.encoder.matrix({**scored.columns, **joined}, scored.coded)
        probabilities = np.asarray(self.booster.predict(matrix, num_threads=self.threads), dtype=np.float64)
        if probabilities.shape != scored.probabilities.shape:
            raise ValueError(f"{self.label} gave {probabilities.shape} probabilities for {len(matrix)} rows")
        return probabilities

    def explain(self, scored: Scored, top: int) -> tuple[np.ndarray, list[list[Contribution]]]:
        """Each prediction's bias and its `top` largest feature contributions (LightGBM's pred_contrib)."""
        values = self.booster.predict(scored.matrix, pred_contrib=True, num_threads=self.threads)
        names = self.spec.names
        shown = self.encoder.values(scored.inputs)
        explained = []
        for row, contributions in enumerate(values[:, :-1]):
            order = np.argsort(-np.abs(contributions), kind="stable")[:top]
            explained.append(
                [Contribution(names[i], _value(shown[names[i]][row]), float(contributions[i])) for i in order]
            )
        return values[:, -1], explained


def _value(value: Any) -> str | float | None:
    if isinstance(value, str):
        return value
    number = float(value)
    return None if np.isnan(number) else number


def _verify(model: ServedModel) -> None:
    """Refuse a booster and spec that disagree, or a spec the request and the lookups cannot feed."""
    spec, booster = model.spec, model.booster
    label = model.version.label
    if booster.feature_name() != spec.names:
        raise ModelRefused(f"{label}: the booster's features {booster.feature_name()} are not its spec's")
    levels = [list(column.categories) for column in spec.columns if column.kind == "categorical"]
    if (booster.pandas_categorical or []) != levels:
        raise ModelRefused(f"{label}: the booster's category levels are not its feature spec's")
    if spec.contract_name != model.contract.name:
        raise ModelRefused(
            f"{label} was trained on contract {spec.contract_name!r}, not on {model.contract.name!r}"
        )
    model.references.check(model.schema.fields)
    joined = {name for lookup in model.references.lookups for name in lookup.join.columns.values()}
    for column in spec.columns:
        if column.derive is None and column.name not in model.schema.fields and column.name not in joined:
            raise ModelRefused(
                f"{label}: feature {column.name!r} is neither a request field nor a joined column"
            )
    if spec.time_column not in model.schema.fields and any(c.derive for c in spec.columns):
        raise ModelRefused(f"{label}: its calendar features need {spec.time_column!r}, not a request field")
