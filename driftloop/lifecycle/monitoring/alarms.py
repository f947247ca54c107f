"""Turn each detector's numbers into alarms: one sentence with the numbers, and a few words for a table.

Every comparison is printed by `driftloop.core.comparisons`, with the decimals it takes for the printed
numbers to compare as claimed.
"""

from __future__ import annotations

from driftloop.core.comparisons import MOST_DIGITS, compare, comparison_digits, printed
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
                reason=f"importance-weighted drift {compare(drift.index, '>=', drift.index_threshold, 2)}; "
                f"drifted features carry {drift.weighted_share:.0%} of the attribution: {listed}",
                short=f"drift {drift.index:.2f}: {', '.join(c.column for c in moved[:2])}",
            )
        )
    p = drift.prediction
    if p is not None and p.drifted:
        alarms.append(
            Alarm(
                detector="drift",
                reason=f"prediction drifted: {p.method} {compare(p.score, '>', p.threshold, 3)}",
                short=f"prediction drift {compare(p.score, '>', p.threshold, 2)}",
            )
        )
    if performance.realized is not None:
        if performance.realized < performance.floor:
            realized, bound, digits = _below_floor(performance.realized, performance)
            alarms.append(
                Alarm(
                    detector="performance",
                    reason=f"realized AUC {realized} < {bound}",
                    short=f"AUC {compare(performance.realized, '<', performance.floor, 3)}",
                )
            )
    elif performance.estimated is not None and performance.estimated.expected < performance.floor:
        e = performance.estimated
        expected, bound, digits = _below_floor(e.expected, performance)
        alarms.append(
            Alarm(
                detector="performance",
                reason=f"estimated AUC {expected} [{e.low:.{digits}f}, {e.high:.{digits}f}] < {bound}; "
                "labels not known yet",
                short=f"est. AUC {compare(e.expected, '<', performance.floor, 3)}",
            )
        )
    alarms += [Alarm(detector="breakage", reason=b.detail, short=f"{b.column} {b.kind}") for b in breakage]
    return tuple(alarms)


def _below_floor(auc: float, performance: PerformanceCheck) -> tuple[str, str, int]:
    """`auc` and the floor as `holdout - margin`, with the decimals at which the printed AUC is below it.

    The margin is printed as the printed holdout AUC minus the printed floor, so the subtraction a reader
    does gives the floor the AUC was compared with.

    Returns:
        The AUC, the floor's text, and the decimals used (4, or more when 4 would print them alike).
    """
    digits = comparison_digits(auc, "<", performance.floor, 4) or MOST_DIGITS
    margin = printed(performance.holdout_auc, digits) - printed(performance.floor, digits)
    bound = (
        f"{performance.holdout_auc:.{digits}f} - {margin:.{digits}f} (holdout AUC minus the 95% interval of "
        "the holdout and of a period this size)"
    )
    return f"{auc:.{digits}f}", bound, digits
