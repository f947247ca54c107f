"""The replay's story in one table and one picture: champion, live AUC, original AUC, drift, decisions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class MonthRow:
    """One replayed month, as the main job reports it."""

    month: str
    status: str  # "ok" or "blocked" (batch quarantined by the gate)
    champion_version: int | None  # the model that scored this month
    champion_auc: float | None  # its AUC on the month (labels known at month end)
    original_auc: float | None  # AUC the first model would have had on the month
    drift_share: float | None
    drifted: bool
    retrained: bool
    promoted: bool
    new_champion: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cells(row: MonthRow) -> list[str]:
    promoted = f"yes -> v{row.new_champion}" if row.promoted else ("no" if row.retrained else "-")
    return [
        row.month,
        f"v{row.champion_version}" if row.champion_version else "-",
        _fmt(row.champion_auc),
        _fmt(row.original_auc),
        "blocked"
        if row.status == "blocked"
        else f"{_fmt(row.drift_share, 2)}{' DRIFT' if row.drifted else ''}",
        "yes" if row.retrained else "no",
        promoted,
    ]


HEADERS = ["month", "champion", "champion AUC", "original AUC", "drift share", "retrained?", "promoted?"]


def render_table(rows: list[MonthRow]) -> str:
    """A plain-text table for the terminal."""
    body = [_cells(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(HEADERS)]
    line = "  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    rows_text = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join([line, rule, *rows_text])


def table_records(rows: list[MonthRow]) -> list[dict[str, str]]:
    """The same table as records, for a Prefect table artifact."""
    return [dict(zip(HEADERS, _cells(row), strict=True)) for row in rows]


def plot_timeline(rows: list[MonthRow], path: Path, title: str, share_threshold: float | None = None) -> Path:
    """A PNG: live champion AUC vs the original model, drift share bars, retrain/promotion markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = [row.month for row in rows]
    x = list(range(len(rows)))
    fig, (ax_auc, ax_drift) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, height_ratios=[3, 2])
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
    ax_auc.set_ylabel("AUC on the month")
    ax_auc.set_title(title)
    ax_auc.legend(loc="lower left")
    ax_auc.grid(alpha=0.3)

    shares = [row.drift_share if row.drift_share is not None else 0.0 for row in rows]
    colors = ["tab:red" if row.drifted else "tab:gray" for row in rows]
    ax_drift.bar(x, shares, color=colors)
    for i, row in enumerate(rows):
        label = "promoted" if row.promoted else ("retrained" if row.retrained else "")
        if row.status == "blocked":
            label = "blocked"
        if label:
            ax_drift.text(i, shares[i] + 0.02, label, ha="center", fontsize=8)
    if share_threshold is not None:
        ax_drift.axhline(
            share_threshold,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"share threshold {share_threshold:.0%}",
        )
        ax_drift.legend(loc="upper left", fontsize=8)
    ax_drift.set_ylabel("share of features drifted")
    ax_drift.set_ylim(0, 1.1)
    ax_drift.set_xticks(x, months, rotation=45)
    ax_drift.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
