"""Decisions as people read them, in Markdown (Prefect artifacts): a monitoring verdict, a retraining
decision, a promotion decision. Each says what was decided first, then the numbers behind it."""

from __future__ import annotations

from driftloop.core.tables import markdown_table
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.policy import RetrainDecision
from driftloop.modelling.metrics import metric_rows
from driftloop.modelling.promotion import PromotionDecision


def verdict_markdown(verdict: MonitoringVerdict) -> str:
    """Alarms first, then each detector's numbers: performance, calibrated drift, breakage, attribution."""
    p = verdict.performance
    estimated = (
        f"{p.estimated.expected:.4f} [{p.estimated.low:.4f}, {p.estimated.high:.4f}]" if p.estimated else "-"
    )
    realized = f"{p.realized:.4f}" if p.realized is not None else "labels not known yet"
    error = f" (estimate error {p.estimate_error:+.4f})" if p.estimate_error is not None else ""
    drift = verdict.drift
    calibrated = "thresholds calibrated per column" if drift.calibrated else "fixed threshold: no calibration"
    drift_rows = [
        {
            "column": c.column,
            "score": round(c.score, 4),
            "threshold": round(c.threshold, 4),
            "weight": round(c.weight, 3),
            "drifted": "**yes**" if c.drifted else "no",
        }
        for c in sorted(drift.columns, key=lambda c: (-c.drifted, -c.weight))
    ]
    attribution = [
        {
            "feature": a.column,
            "training": round(a.reference, 4),
            "now": round(a.current, 4),
            "change": f"{a.change:+.0%}",
        }
        for a in sorted(verdict.attribution, key=lambda a: -abs(a.current - a.reference))[:8]
    ]
    alarms = [f"- **{a.detector}**: {a.reason}" for a in verdict.alarms] or ["- none"]
    return "\n".join(
        [
            f"## {verdict.period}{' served' if verdict.served else ''}: model v{verdict.model_version}, "
            f"{_alarm_count(verdict)}",
            "",
            *alarms,
            "",
            *_served_section(verdict),
            f"**Performance**: realized AUC {realized}; estimated {estimated}{error}; floor {p.floor:.4f} "
            f"(holdout AUC {p.holdout_auc:.4f} minus the 95% noise of the holdout and of this period).",
            "",
            f"**Drift** ({calibrated}): importance-weighted index {drift.index:.2f} (alarm at "
            f"{drift.index_threshold:g}); drifted features carry {drift.weighted_share:.0%} of the model's "
            f"attribution. Statistics on {verdict.sampled_rows:,} of "
            f"{verdict.rows:,} rows (fixed-seed sample).",
            "",
            markdown_table(drift_rows),
            "",
            "**Breakage**: " + ("; ".join(b.detail for b in verdict.breakage) or "none"),
            "",
            "**Attribution** (mean |contribution|, largest changes):",
            "",
            markdown_table(attribution),
            "",
            f"Fixed rule (for comparison): {'; '.join(verdict.fixed_rule.reasons)}",
            "",
            f"Data version `{verdict.data_version[:16]}`",
        ]
    )


def _served_section(verdict: MonitoringVerdict) -> list[str]:
    """What the service served: predictions by version, the outcomes joined, refusals by field and rule, and
    the shadow challenger against the champion when one scored beside it."""
    served = verdict.served
    if served is None:
        return []
    versions = ", ".join(f"{count:,} by {version}" for version, count in served.by_version.items())
    refusals = [{"field: rule": rule, "records": count} for rule, count in served.refusals.items()]
    shadow: list[str] = []
    if served.shadow_version is not None:  # the shadow challenger against the champion, on the same rows
        aucs = [
            (f"champion v{served.monitored_version}", served.champion_auc_on_shadow_rows),
            (f"shadow v{served.shadow_version}", served.shadow_auc),
        ]
        table = [{"model": name, "AUC": f"{auc:.4f}" if auc is not None else "-"} for name, auc in aucs]
        shadow = [
            f"**Shadow** v{served.shadow_version} scored {served.shadow_predictions:,} of the monitored "
            f"predictions beside the champion (logged, never returned); both are measured on the "
            f"{served.shadow_rows:,} of them whose outcome arrived:",
            "",
            markdown_table(table),
            "",
        ]
    return [
        f"**Served** (the prediction log, by the records' time): {versions}; outcomes joined for "
        f"{served.labelled:,} of the {served.monitored:,} monitored ({served.join_rate:.1%}); "
        f"{served.lookup_misses:,} reference lookups missed; {served.refused_records:,} records refused.",
        "",
        *([markdown_table(refusals), ""] if refusals else []),
        *shadow,
    ]


def _alarm_count(verdict: MonitoringVerdict) -> str:
    """The headline's count: the detectors that fired, never the fixed rule (it only compares)."""
    count = len(verdict.alarms)
    return "no alarm" if count == 0 else f"{count} alarm{'s' if count > 1 else ''}"


def retrain_markdown(decision: RetrainDecision) -> str:
    """A retraining decision: the verdict in a word, the policy, and every reason with its numbers."""
    head = "RETRAIN" if decision.retrain else "no retrain"
    reasons = "\n".join(f"- {reason}" for reason in decision.reasons)
    return f"## {decision.period}: {head}\n\nPolicy: {decision.policy.describe()}\n\n{reasons}"


def promotion_markdown(version: int, decision: PromotionDecision) -> str:
    """The verdict, one line per reason, and the three models' metrics on the holdout."""
    named = [("challenger", decision.challenger)]
    named += [("champion", decision.champion)] if decision.champion is not None else []
    named += [("naive baseline", decision.naive)]
    return "\n".join(
        [
            f"## {'PROMOTED' if decision.promote else 'not promoted'}: v{version}",
            "",
            *[f"- {reason}" for reason in decision.reasons],
            "",
            markdown_table(metric_rows(named)),
        ]
    )
