"""What monitoring needs of a model, whether a registered version or a candidate that was never registered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.lifecycle.challenger import Candidate
from driftloop.modelling.features import FeatureSpec
from driftloop.modelling.yardsticks import MonitoringYardsticks
from driftloop.registry import LoadedModel, Registry

if TYPE_CHECKING:  # only annotated here: loading and scoring import LightGBM where they run
    import lightgbm as lgb


@dataclass(frozen=True)
class MonitoredModel:
    """What monitoring needs of a model, whether registered or a backtest's candidate."""

    name: str
    version: int
    booster: lgb.Booster
    spec: FeatureSpec
    reference: pd.DataFrame  # training features + predictions (fixed-seed sample)
    yardsticks: MonitoringYardsticks | None  # None for versions registered before v0.3
    holdout_auc: float
    mean_contributions: dict[str, float]


def monitored_model(registry: Registry, loaded: LoadedModel, reference: pd.DataFrame) -> MonitoredModel:
    """A registered version as monitoring sees it."""
    metrics = loaded.version.metrics
    return MonitoredModel(
        name=loaded.version.model,
        version=loaded.version.version,
        booster=loaded.booster,
        spec=loaded.spec,
        reference=reference,
        yardsticks=registry.yardsticks(loaded.version.version),
        holdout_auc=metrics.holdout.auc,
        mean_contributions=metrics.mean_abs_contribution,
    )


def candidate_model(candidate: Candidate, name: str) -> MonitoredModel:
    """A trained candidate (a backtest's, the known-truth stream's) as monitoring sees it."""
    return MonitoredModel(
        name=name,
        version=0,
        booster=candidate.booster,
        spec=candidate.trained.spec,
        reference=candidate.reference,
        yardsticks=candidate.yardsticks,
        holdout_auc=candidate.holdout.auc,
        mean_contributions=candidate.trained.mean_contributions,
    )
