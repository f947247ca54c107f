"""The replay's story as a table: per period, the champion, its live AUC, the original model's, drift and
what was decided; a live replay (`run --live`) adds who answered the period's requests and how many failed."""

from __future__ import annotations

import math

from driftloop.core.tables import text_table
from driftloop.lifecycle.step import PeriodOutcome


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def drift_text(row: PeriodOutcome) -> str:
    """The drift index with its marks, as the table prints it: "0.58", "1.20 DRIFT", "0.58 pred-drift".

    `DRIFT`: the index reached its alarm threshold (1.0 by default). `pred-drift`: the prediction's own
    distribution moved beyond its calibrated threshold, an alarm of its own whatever the index.
    """
    marks = (["DRIFT"] if row.drifted else []) + (["pred-drift"] if row.prediction_drifted else [])
    return " ".join([_fmt(row.drift_index, 2), *marks])


def _cells(row: PeriodOutcome, live: bool) -> list[str]:
    promoted = f"yes -> {row.new_champion}" if row.promoted else ("no" if row.retrained else "-")
    served = [row.served_by or "-", "-" if row.failed_requests is None else f"{row.failed_requests:,}"]
    return [
        row.period,
        row.champion,
        *(served if live else []),
        _fmt(row.champion_auc),
        _fmt(row.original_auc),
        "blocked" if row.status == "blocked" else drift_text(row),
        "yes" if row.retrained else "no",
        promoted,
        row.why or "",
    ]


def _live(rows: list[PeriodOutcome]) -> bool:
    return any(row.served_by is not None or row.failed_requests is not None for row in rows)


def headers(period_kind: str, live: bool = False) -> list[str]:
    return [
        period_kind,
        "champion",
        *(["served by", "failed requests"] if live else []),
        "champion AUC",
        "original AUC",
        "drift index",
        "retrained?",
        "promoted?",
        "why",
    ]


def render_table(rows: list[PeriodOutcome], period_kind: str = "month") -> str:
    """A plain-text table for the terminal (no trailing spaces, so it can be compared as text)."""
    live = _live(rows)
    return text_table(headers(period_kind, live), [_cells(row, live) for row in rows])


def table_records(rows: list[PeriodOutcome], period_kind: str = "month") -> list[dict[str, str]]:
    """The same table as records, for a Prefect table artifact."""
    live = _live(rows)
    return [dict(zip(headers(period_kind, live), _cells(row, live), strict=True)) for row in rows]
