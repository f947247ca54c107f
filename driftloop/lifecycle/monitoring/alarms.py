"""Turn each detector's numbers into alarms: one sentence with the numbers, and a few words for a table."""

from __future__ import annotations

from driftloop.lifecycle.monitoring.verdict import Alarm, DriftCheck, PerformanceCheck
from driftloop.modelling.drift.breakage import Breakage


def raise_alarms(
    drift: DriftCheck, performance: PerformanceCheck, breakage: tuple[Breakage, ...]
) -> tuple[Alarm, ...]:
    """The detectors that fired, in a fixed order: drift, prediction drift, performance, breakage."""
    alarms: list[Alarm] = []
    moved = sorted(drift.columns, key=lambda c: -c.weight * c.score / c.threshold)
    moved = [c for c in moved if c.drifted]
    if drift.index >= drift.index_threshold:
        listed = ", ".join(
            f"{c.column} {c.score / c.threshold:.1f}x its threshold (w={c.weight:.2f})" for c in moved[:5]
        )
        alarms.append(
            Alarm(
                detector="drift",
                reason=f"importance-weighted drift {drift.index:.2f} >= {drift.index_threshold:.2f}; "
                f"drifted features carry {drift.weighted_share:.0%} of the attribution: {listed}",
                short=f"drift {drift.index:.2f}: {', '.join(c.column for c in moved[:2])}",
            )
        )
    p = drift.prediction
    if p is not None and p.drifted:
        alarms.append(
            Alarm(
                detector="drift",
                reason=f"prediction drifted: {p.method} {p.score:.3f} > {p.threshold:.3f}",
                short=f"prediction drift {p.score:.2f} > {p.threshold:.2f}",
            )
        )
    margin = performance.holdout_auc - performance.floor
    bound = (
        f"{performance.holdout_auc:.4f} - {margin:.4f} (holdout AUC minus the 95% interval of the "
        "holdout and of a period this size)"
    )
    if performance.realized is not None:
        if performance.realized < performance.floor:
            alarms.append(
                Alarm(
                    detector="performance",
                    reason=f"realized AUC {performance.realized:.4f} < {bound}",
                    short=f"AUC {performance.realized:.3f} < {performance.floor:.3f}",
                )
            )
    elif performance.estimated is not None and performance.estimated.expected < performance.floor:
        e = performance.estimated
        alarms.append(
            Alarm(
                detector="performance",
                reason=f"estimated AUC {e.expected:.4f} [{e.low:.4f}, {e.high:.4f}] < {bound}; "
                "labels not known yet",
                short=f"est. AUC {e.expected:.3f} < {performance.floor:.3f}",
            )
        )
    alarms += [Alarm(detector="breakage", reason=b.detail, short=f"{b.column} {b.kind}") for b in breakage]
    return tuple(alarms)
