"""The promotion rule: a challenger replaces the champion only on evidence.

Both models are scored on the same recent holdout. The challenger must (1) beat a naive baseline —
the training base rate predicted for every row — and (2) beat the champion by a configured margin on
the primary metric. The decision carries its numbers, so it can be recorded either way.
"""

from __future__ import annotations

import numpy as np
from pydantic import AliasChoices, Field

from driftloop.core.records import Record
from driftloop.core.settings import PromotionSettings
from driftloop.modelling.metrics import Metrics, is_better, score_predictions


class PromotionDecision(Record):
    """Promote or not, with one reason per check and the metrics of all three models."""

    promote: bool
    reasons: tuple[str, ...]
    metric: str
    challenger: Metrics
    naive: Metrics = Field(validation_alias=AliasChoices("naive", "baseline"))  # the naive model
    champion: Metrics | None = None

    def refused(self, reason: str) -> PromotionDecision:
        """The same evidence, not promoted, with `reason` first."""
        return self.model_copy(update={"promote": False, "reasons": (reason, *self.reasons)})


def naive_metrics(y_holdout: np.ndarray, train_positive_rate: float, calibration_bins: int = 10) -> Metrics:
    """Metrics of the no-skill model that predicts the training base rate for every row."""
    return score_predictions(y_holdout, np.full(len(y_holdout), train_positive_rate), calibration_bins)


def decide_promotion(
    challenger: Metrics, champion: Metrics | None, naive: Metrics, settings: PromotionSettings
) -> PromotionDecision:
    """Apply the rule and explain it with numbers.

    Args:
        challenger: the new model's metrics on the holdout.
        champion: the current champion's metrics on the same holdout, or None if there is none yet.
        naive: the naive model's metrics on the same holdout (the training base rate for every row).
        settings: primary metric and margins.

    Returns:
        The decision with one reason per check, passed or failed.
    """
    metric = settings.metric
    reasons: list[str] = []

    auc_floor = 0.5 + settings.min_auc_over_baseline
    beats_baseline = challenger.auc >= auc_floor and challenger.log_loss < naive.log_loss
    reasons.append(
        f"{'beats' if beats_baseline else 'does not beat'} the naive baseline: AUC {challenger.auc:.4f} "
        f"(needs >= {auc_floor:.4f}), log loss {challenger.log_loss:.4f} vs {naive.log_loss:.4f}"
    )

    if champion is None:
        beats_champion = True
        reasons.append("no champion yet")
    else:
        ours, theirs = challenger.value(metric), champion.value(metric)
        beats_champion = is_better(metric, ours, theirs, settings.min_improvement)
        reasons.append(
            f"{'beats' if beats_champion else 'does not beat'} the champion on {metric}: "
            f"{ours:.4f} vs {theirs:.4f} (margin {settings.min_improvement})"
        )
    return PromotionDecision(
        promote=beats_baseline and beats_champion,
        reasons=tuple(reasons),
        metric=metric,
        challenger=challenger,
        naive=naive,
        champion=champion,
    )
