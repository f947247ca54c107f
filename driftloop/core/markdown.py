"""Markdown for Prefect artifacts and model cards: one table renderer for every table driftloop shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def cell(value: object) -> str:
    """A value as table text: floats with 4 decimals, None as a dash, pipes escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Mapping[str, object]]) -> str:
    """A Markdown table whose columns are the first row's keys; numbers right-aligned."""
    if not rows:
        return "(none)"
    headers = list(rows[0])
    numeric = [
        all(isinstance(row.get(h), int | float) and not isinstance(row.get(h), bool) for row in rows)
        for h in headers
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if right else "---" for right in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(row.get(h)) for h in headers) + " |" for row in rows]
    return "\n".join(lines)
