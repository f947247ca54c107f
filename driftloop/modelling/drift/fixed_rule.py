"""The old fixed-threshold rule: drifted share, prediction drift and live AUC against fixed thresholds.

Kept for comparison (the monitoring verdict's `fixed_rule`, the backtest's `fixed-drift` policy): on seasonal
data it calls every period drifted, which is why monitoring calibrates its thresholds instead.
"""

from __future__ import annotations

from driftloop.core.records import Record
from driftloop.modelling.drift.summary import DriftSummary, percent

# A drop computed as 0.80 - 0.77 is 0.0299999…; "exactly at max_auc_drop" must still count.
_AUC_TOLERANCE = 1e-9


class FixedRuleVerdict(Record):
    """Whether the fixed rule calls the period drifted, and why, in sentences that carry the numbers."""

    drifted: bool
    reasons: tuple[str, ...]


def apply_fixed_rule(
    summary: DriftSummary,
    *,
    share_threshold: float,
    prediction_drift_triggers: bool,
    live_auc: float | None = None,
    reference_auc: float | None = None,
    max_auc_drop: float = 0.03,
) -> FixedRuleVerdict:
    """Apply the fixed rule to a drift summary (and optionally the live AUC).

    Three triggers, any one suffices: the drifted share of features is at least `share_threshold`;
    the prediction drifted and `prediction_drift_triggers` is on; both AUCs are known and the live
    AUC fell at least `max_auc_drop` below the reference AUC.

    Args:
        summary: The output of `compute_drift`.
        share_threshold: Share of drifted features (0-1] at which the data counts as drifted.
        prediction_drift_triggers: Whether prediction drift alone triggers.
        live_auc: AUC of the champion on labelled current data, if labels have arrived.
        reference_auc: The champion's holdout AUC.
        max_auc_drop: Largest tolerated AUC drop.

    Returns:
        A `FixedRuleVerdict` whose reasons name every trigger that fired, or, when none did, one sentence
        saying why not with the numbers.
    """
    n_drifted, n_features = len(summary.drifted_features), len(summary.features)
    share = summary.drift_share
    share_text = f"{n_drifted} of {n_features} features drifted ({percent(share)})"
    reasons: list[str] = []
    quiet: list[str] = []

    if n_features and share >= share_threshold:
        reasons.append(f"{share_text} >= {percent(share_threshold)} threshold")
    else:
        quiet.append(f"{share_text} < {percent(share_threshold)} threshold")

    p = summary.prediction
    if p is None:
        quiet.append("no prediction column")
    else:
        p_text = f"prediction `{p.column}` {p.method} {p.score:.4f}"
        if p.drifted and prediction_drift_triggers:
            reasons.append(f"{p_text} >= {p.threshold:g} threshold: prediction drifted")
        elif p.drifted:
            quiet.append(f"{p_text} >= {p.threshold:g} drifted, but prediction drift does not trigger")
        else:
            quiet.append(f"{p_text} < {p.threshold:g} threshold")

    if live_auc is None or reference_auc is None:
        quiet.append("AUC not checked (live or reference AUC missing)")
    else:
        drop = reference_auc - live_auc
        auc_text = f"live AUC {live_auc:.4f} vs reference {reference_auc:.4f} (drop {drop:.4f})"
        if drop >= max_auc_drop - _AUC_TOLERANCE:
            reasons.append(f"{auc_text} >= {max_auc_drop:g} allowed drop")
        else:
            quiet.append(f"{auc_text} < {max_auc_drop:g} allowed drop")

    if reasons:
        return FixedRuleVerdict(drifted=True, reasons=tuple(reasons))
    return FixedRuleVerdict(drifted=False, reasons=("no drift trigger fired: " + "; ".join(quiet),))
