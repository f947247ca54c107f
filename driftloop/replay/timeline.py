"""The replay's story in one picture: live champion AUC vs the original model, drift, decisions.

`timeline_points` decides what the picture shows (one value or mark per period); `plot_timeline` only draws
them, so what the PNG says can be checked as numbers.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from driftloop.lifecycle.step import PeriodOutcome


@dataclass(frozen=True)
class TimelinePoints:
    """Per period, in order: what each panel of the timeline shows."""

    periods: tuple[str, ...]
    champion_auc: tuple[float, ...]  # NaN where unknown (blocked, one class)
    original_auc: tuple[float, ...]
    champion: tuple[str, ...]  # the label above each champion point ("v3"), "" where none
    promoted_after: tuple[int, ...]  # positions after which a new champion served
    blocked: tuple[int, ...]  # positions the gate quarantined
    drift: tuple[float, ...]  # bar heights (0 where unknown)
    drifted: tuple[bool, ...]  # red bars: the calibrated drift alarm fired
    decision: tuple[str, ...]  # the word above each bar: promoted, retrained, blocked or ""


def _number(value: float | None) -> float:
    return value if value is not None else math.nan


def timeline_points(rows: list[PeriodOutcome]) -> TimelinePoints:
    """What the timeline shows for these rows."""

    def decision(row: PeriodOutcome) -> str:
        if row.status == "blocked":
            return "blocked"
        return "promoted" if row.promoted else ("retrained" if row.retrained else "")

    return TimelinePoints(
        periods=tuple(row.period for row in rows),
        champion_auc=tuple(_number(row.champion_auc) for row in rows),
        original_auc=tuple(_number(row.original_auc) for row in rows),
        champion=tuple(row.champion for row in rows),
        promoted_after=tuple(i for i, row in enumerate(rows) if row.promoted),
        blocked=tuple(i for i, row in enumerate(rows) if row.status == "blocked"),
        drift=tuple(row.drift_index if row.drift_index is not None else 0.0 for row in rows),
        drifted=tuple(row.drifted for row in rows),
        decision=tuple(decision(row) for row in rows),
    )


def plot_timeline(
    rows: list[PeriodOutcome], title: str, period_kind: str = "month", index_threshold: float | None = None
) -> bytes:
    """A PNG: live champion AUC vs the original model, drift index bars, retrain/promotion markers."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global figure state, faster import

    points = timeline_points(rows)
    x = list(range(len(rows)))
    fig = Figure(figsize=(10, 6.5))
    ax_auc, ax_drift = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    ax_auc.plot(x, points.champion_auc, marker="o", label="live champion")
    ax_auc.plot(x, points.original_auc, marker="s", linestyle="--", label="original model (never retrained)")
    for i, name in enumerate(points.champion):
        if name:
            ax_auc.annotate(
                name,
                (i, points.champion_auc[i]),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
            )
    for i in points.promoted_after:
        ax_auc.axvline(i + 0.5, color="tab:green", alpha=0.4, linestyle=":")
    for i in points.blocked:
        ax_auc.axvspan(i - 0.4, i + 0.4, color="tab:red", alpha=0.15)
    ax_auc.set_ylabel(f"AUC on the {period_kind}")
    ax_auc.set_title(title)
    ax_auc.legend(loc="lower left")
    ax_auc.grid(alpha=0.3)

    colors = ["tab:red" if drifted else "tab:gray" for drifted in points.drifted]
    ax_drift.bar(x, points.drift, color=colors)
    for i, label in enumerate(points.decision):
        if label:
            ax_drift.text(i, points.drift[i] + 0.02, label, ha="center", fontsize=8)
    if index_threshold is not None:
        ax_drift.axhline(
            index_threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"alarm at {index_threshold:g}",
        )
        ax_drift.legend(loc="upper left", fontsize=8)
    ax_drift.set_ylabel("importance-weighted drift")
    ax_drift.set_ylim(0, max([1.2, *[height * 1.15 for height in points.drift]]))
    ax_drift.set_xticks(x, list(points.periods), rotation=45)
    ax_drift.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    return buffer.getvalue()
