"""Batch scoring: a validated month scored by a registered model; predictions stored with its version."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftloop.batches import read_batch, validated_version
from driftloop.contract import Contract
from driftloop.data import enrich, labels, to_parquet_bytes
from driftloop.features import build_features
from driftloop.metrics import Metrics, score_predictions
from driftloop.modeling import PREDICTION_COLUMN
from driftloop.registry import LoadedModel
from driftloop.storage import Storage


@dataclass(frozen=True)
class ScoredMonth:
    """A month's enriched rows, model matrix and predictions, kept in memory for monitoring."""

    month: str
    model_version: int
    frame: pd.DataFrame
    features: pd.DataFrame
    prediction: np.ndarray
    label: pd.Series

    def metrics(self, calibration_bins: int = 10) -> Metrics | None:
        """Performance on the rows whose label is known; None when no label is known yet."""
        known = self.label.notna().to_numpy()
        if known.sum() == 0 or self.label[known].nunique() < 2:
            return None
        return score_predictions(self.label[known].to_numpy(), self.prediction[known], calibration_bins)


def score_month(
    storage: Storage, contract: Contract, tables: dict[str, pd.DataFrame], model: LoadedModel, month: str
) -> ScoredMonth:
    """Score the validated batch of `month` with `model` (the same feature function as training)."""
    batch = read_batch(storage, validated_version(storage, contract, month))
    frame = enrich(batch, contract, tables)
    features = build_features(frame, model.spec)
    prediction = np.asarray(model.booster.predict(features), dtype=float)
    return ScoredMonth(month, model.version.version, frame, features, prediction, labels(frame, contract))


def predictions_key(contract: Contract, month: str, model_name: str, version: int) -> str:
    return f"predictions/{contract.name}/{month}/{model_name}-v{version:04d}.parquet"


def write_predictions(storage: Storage, contract: Contract, scored: ScoredMonth, model_name: str) -> str:
    """Store keys, prediction and model version for every row; returns the key written."""
    key_columns = [column for column in contract.unique_key if column in scored.frame.columns]
    table = scored.frame[key_columns].copy()
    table[PREDICTION_COLUMN] = scored.prediction
    table["model"] = model_name
    table["model_version"] = scored.model_version
    key = predictions_key(contract, scored.month, model_name, scored.model_version)
    storage.write_bytes(key, to_parquet_bytes(table))
    return key
