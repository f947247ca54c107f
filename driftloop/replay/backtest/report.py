"""A backtest as a terminal table and a PNG: what each policy costs and what it buys."""

from __future__ import annotations

import io
import math

from driftloop.core.tables import text_table
from driftloop.replay.backtest.records import BacktestResult

HEADERS = ["policy", "alarms", "retrains", "promotions", "mean AUC", "worst AUC", "train s", ""]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_backtest(result: BacktestResult) -> str:
    """One row per policy; the configured default is marked. No trailing spaces."""
    body = [
        [
            run.policy,
            str(run.alarms),
            str(run.retrains),
            str(run.promotions),
            _fmt(run.mean_auc),
            _fmt(run.worst_auc),
            f"{run.train_seconds:.0f}",
            f"<- default ({run.description.split(': ', 1)[1]})" if run.default else "",
        ]
        for run in result.runs
    ]
    lines = text_table(HEADERS, body).splitlines()
    periods = f"{result.replay[0]}..{result.replay[-1]}" if result.replay else "nothing"
    lines += [
        "",
        f"{len(result.replay)} {result.period_kind}s replayed ({periods}) after training on "
        f"{result.initial[0]}..{result.initial[-1]}; label delay {result.label_delay}.",
    ]
    default = next((run for run in result.runs if run.default), None)
    errors = default.estimate_errors() if default else []
    if errors:
        lines.append(
            f"AUC estimated without labels vs realized, default policy's champion: mean error "
            f"{sum(errors) / len(errors):+.4f}, largest {max(errors, key=abs):+.4f} ({len(errors)} periods)."
        )
    return "\n".join(line.rstrip() for line in lines)


def plot_backtest(result: BacktestResult) -> bytes:
    """A PNG: the live champion's AUC per period, one line per policy; alarms as rings, retrains filled."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 6))
    ax = fig.subplots()
    labels = list(result.replay)
    x = list(range(len(labels)))
    for number, run in enumerate(result.runs):
        auc = [p.champion_auc if p.champion_auc is not None else math.nan for p in run.periods]
        style = "-" if run.default else "--"
        width = 2.5 if run.default else 1.2
        (line,) = ax.plot(x, auc, style, linewidth=width, label=f"{run.policy} (mean {_fmt(run.mean_auc)})")
        offset = (number - len(result.runs) / 2) * 0.04
        alarmed = [i for i, p in enumerate(run.periods) if p.alarmed]
        retrained = [i for i, p in enumerate(run.periods) if p.retrained]
        ax.scatter(
            [i + offset for i in alarmed],
            [auc[i] for i in alarmed],
            s=70,
            facecolors="none",
            edgecolors=line.get_color(),
        )
        ax.scatter([i + offset for i in retrained], [auc[i] for i in retrained], s=18, color=line.get_color())
    ax.set_xticks(x, labels, rotation=45)
    ax.set_ylabel(f"AUC of the live champion on the {result.period_kind}")
    ax.set_title(f"{result.dataset}: retraining policies (ring = alarm, dot = retrained)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    return buffer.getvalue()
