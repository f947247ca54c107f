"""The promotion rule: a challenger replaces the champion only on evidence.

Both models are scored on the same recent holdout. The challenger must (1) beat a naive baseline —
the training base rate predicted for every row — and (2) beat the champion by a configured margin on
the primary metric. The decision carries its numbers, so it can be recorded either way.

With `require_live_shadow_win`, a holdout win over a champion is not enough: the challenger waits
(`held_for_live_shadow`) while the service scores it as its shadow, and `decide_live_shadow` promotes it
once it beats the champion's AUC by the same margin on enough labelled served rows.
"""

from __future__ import annotations

import numpy as np
from pydantic import AliasChoices, Field

from driftloop.core.comparisons import comparison_digits
from driftloop.core.records import Record
from driftloop.core.settings import PromotionSettings
from driftloop.modelling.metrics import Metrics, is_better, score_predictions

LIVE_SETTING = "DRIFTLOOP_PROMOTE_REQUIRE_LIVE_SHADOW_WIN"
ROWS_SETTING = "DRIFTLOOP_PROMOTE_MIN_SHADOW_ROWS"


class PromotionDecision(Record):
    """Promote or not, with one reason per check and the metrics of all three models."""

    promote: bool
    reasons: tuple[str, ...]
    metric: str
    challenger: Metrics
    naive: Metrics = Field(validation_alias=AliasChoices("naive", "baseline"))  # the naive model
    champion: Metrics | None = None
    # Won on the holdout but held for a live shadow comparison (`require_live_shadow_win`); decisions
    # recorded before it existed read as False.
    awaiting_live_shadow: bool = False

    def refused(self, reason: str) -> PromotionDecision:
        """The same evidence, not promoted, with `reason` first."""
        return self.model_copy(update={"promote": False, "reasons": (reason, *self.reasons)})


class LiveShadowDecision(Record):
    """Promote a held challenger or not, on what the service's shadow scored: the numbers and the reason."""

    promote: bool
    reason: str
    challenger: int | None  # the held challenger; None when none awaited
    champion: int
    period: str
    rows: int = 0  # labelled served rows both scored
    challenger_auc: float | None = None
    champion_auc: float | None = None


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


def held_for_live_shadow(
    decision: PromotionDecision, champion: int | None, settings: PromotionSettings
) -> PromotionDecision:
    """With `require_live_shadow_win`, a challenger that won on the holdout against a champion is not
    promoted yet: it awaits a live shadow comparison, and its last reason says so. A first model (no
    champion to shadow) and a decision that does not promote pass unchanged.
    """
    if not (settings.require_live_shadow_win and decision.promote and champion is not None):
        return decision
    reason = (
        f"awaiting a live shadow comparison: it won on the holdout, and is promoted once it beats the "
        f"champion v{champion}'s AUC by {settings.min_improvement} on at least {settings.min_shadow_rows:,} "
        f"labelled served rows ({LIVE_SETTING}; the service scores it as its shadow with "
        "DRIFTLOOP_SERVE_SHADOW=true, `monitor --served` compares)"
    )
    return decision.model_copy(
        update={"promote": False, "awaiting_live_shadow": True, "reasons": (*decision.reasons, reason)}
    )


def decide_live_shadow(
    challenger: int,
    champion: int,
    period: str,
    rows: int,
    challenger_auc: float | None,
    champion_auc: float | None,
    settings: PromotionSettings,
) -> LiveShadowDecision:
    """The live rule: on at least `min_shadow_rows` labelled served rows that both scored, the challenger's
    AUC beats the champion's by at least `min_improvement`.

    Args:
        challenger: the held challenger, which shadowed the champion.
        champion: the champion it shadowed.
        period: the period the served rows belong to.
        rows: labelled served rows both models scored.
        challenger_auc: the challenger's AUC on them (None: no rows, or one class only).
        champion_auc: the champion's AUC on the same rows.
        settings: the margin and the rows needed.

    Returns:
        The decision, its reason naming the numbers.
    """
    numbers = {"rows": rows, "challenger_auc": challenger_auc, "champion_auc": champion_auc}
    who = f"v{challenger} shadowing the champion v{champion}, {period}"

    def decided(promote: bool, reason: str) -> LiveShadowDecision:
        return LiveShadowDecision(
            promote=promote, reason=reason, challenger=challenger, champion=champion, period=period, **numbers
        )

    if rows < settings.min_shadow_rows:
        return decided(
            False,
            f"not promoted: too few labelled served rows to compare on live shadow traffic: {rows:,} "
            f"({who}), at least {settings.min_shadow_rows:,} needed ({ROWS_SETTING})",
        )
    if challenger_auc is None or champion_auc is None:
        return decided(
            False,
            f"not promoted: no AUC on live shadow traffic: its {rows:,} labelled served rows hold one class "
            f"only ({who})",
        )
    margin = settings.min_improvement
    if is_better("auc", challenger_auc, champion_auc, margin):
        digits = comparison_digits(challenger_auc, ">", champion_auc, 3) or 3
        return decided(
            True,
            f"won on live shadow traffic: AUC {challenger_auc:.{digits}f} vs {champion_auc:.{digits}f} on "
            f"{rows:,} labelled served rows ({who}; margin {margin})",
        )
    needed = champion_auc + margin
    digits = comparison_digits(challenger_auc, "<", needed, 3) or 3
    return decided(
        False,
        f"not promoted: did not win on live shadow traffic: AUC {challenger_auc:.{digits}f} vs "
        f"{champion_auc:.{digits}f} on {rows:,} labelled served rows ({who}); it needs "
        f"{needed:.{digits}f} or more: the champion's plus the margin {margin}",
    )
