"""The replay's story in one picture: live champion AUC vs the original model, drift, decisions."""

from __future__ import annotations

import io
import math

from driftloop.replay.plan import ReplayRow


def plot_timeline(
    rows: list[ReplayRow], title: str, period_kind: str = "month", index_threshold: float | None = None
) -> bytes:
    """A PNG: live champion AUC vs the original model, drift index bars, retrain/promotion markers."""
    from matplotlib.figure import Figure  # not pyplot: no GUI backend, no global figure state, faster import

    labels = [row.period for row in rows]
    x = list(range(len(rows)))
    fig = Figure(figsize=(10, 6.5))
    ax_auc, ax_drift = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    champion = [row.champion_auc if row.champion_auc is not None else math.nan for row in rows]
    original = [row.original_auc if row.original_auc is not None else math.nan for row in rows]
    ax_auc.plot(x, champion, marker="o", label="live champion")
    ax_auc.plot(x, original, marker="s", linestyle="--", label="original model (never retrained)")
    for i, row in enumerate(rows):
        if row.champion_version:
            ax_auc.annotate(
                f"v{row.champion_version}",
                (i, champion[i]),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
            )
        if row.promoted:
            ax_auc.axvline(i + 0.5, color="tab:green", alpha=0.4, linestyle=":")
        if row.status == "blocked":
            ax_auc.axvspan(i - 0.4, i + 0.4, color="tab:red", alpha=0.15)
    ax_auc.set_ylabel(f"AUC on the {period_kind}")
    ax_auc.set_title(title)
    ax_auc.legend(loc="lower left")
    ax_auc.grid(alpha=0.3)

    shares = [row.drift_index if row.drift_index is not None else 0.0 for row in rows]
    colors = ["tab:red" if row.drifted else "tab:gray" for row in rows]
    ax_drift.bar(x, shares, color=colors)
    for i, row in enumerate(rows):
        label = "promoted" if row.promoted else ("retrained" if row.retrained else "")
        if row.status == "blocked":
            label = "blocked"
        if label:
            ax_drift.text(i, shares[i] + 0.02, label, ha="center", fontsize=8)
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
    ax_drift.set_ylim(0, max([1.2, *[share * 1.15 for share in shares]]))
    ax_drift.set_xticks(x, labels, rotation=45)
    ax_drift.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    return buffer.getvalue()
