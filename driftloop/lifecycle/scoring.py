"""Batch scoring: a period's validated batch, enriched once, scored by any number of registered models."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.storage import Storage
from driftloop.data.batches import DataVersion, to_parquet_bytes
from driftloop.data.enrichment import enrich, labels
from driftloop.modelling.features import FeatureSpec, build_features
from driftloop.modelling.metrics import Metrics, score_predictions
from driftloop.modelling.training import PREDICTION_COLUMN, predict_proba

if TYPE_CHECKING:  # only annotated here: loading and scoring import LightGBM where they run
    import lightgbm as lgb


@dataclass(frozen=True)
class EnrichedBatch:
    """A period's validated rows joined with the reference tables, and their labels where known."""

    version: DataVersion
    frame: pd.DataFrame
    label: pd.Series

    @property
    def period(self) -> str:
        return self.version.period


@dataclass(frozen=True)
class ScoredBatch:
    """An enriched batch scored by one model: its model matrix and predictions, kept for monitoring."""

    batch: EnrichedBatch
    model_version: int
    features: pd.DataFrame
    prediction: np.ndarray

    @cached_property
    def metrics(self) -> Metrics | None:
        """Performance on the rows whose label is known; None when no label is known yet. Computed once."""
        label = self.batch.label
        known = label.notna().to_numpy()
        if known.sum() == 0 or label[known].nunique() < 2:
            return None
        return score_predictions(label[known].to_numpy(), self.prediction[known])


def enrich_batch(
    version: DataVersion, batch: pd.DataFrame, contract: Contract, tables: dict[str, pd.DataFrame]
) -> EnrichedBatch:
    """Join the reference tables once; every model that scores the period reuses the result."""
    frame = enrich(batch, contract, tables)
    return EnrichedBatch(version=version, frame=frame, label=labels(frame, contract))


def score_batch(
    batch: EnrichedBatch, booster: lgb.Booster, spec: FeatureSpec, model_version: int
) -> ScoredBatch:
    """Score with the model's own feature spec (the same feature function as training)."""
    features = build_features(batch.frame, spec)
    return ScoredBatch(
        batch=batch,
        model_version=model_version,
        features=features,
        prediction=predict_proba(booster, features),
    )


def write_predictions(storage: Storage, contract: Contract, scored: ScoredBatch, model_name: str) -> str:
    """Store keys, prediction, model version and data version for every row; returns the key written."""
    frame = scored.batch.frame
    table = frame[[column for column in contract.unique_key if column in frame.columns]].copy()
    table[PREDICTION_COLUMN] = scored.prediction
    table["model"] = model_name
    table["model_version"] = scored.model_version
    table["data_version"] = scored.batch.version.sha256
    key = layout.predictions(contract.name, scored.batch.period, model_name, scored.model_version)
    storage.write_bytes(key, to_parquet_bytes(table))
    return key
