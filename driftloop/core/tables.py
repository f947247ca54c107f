"""Tables people read: Markdown for Prefect artifacts and model cards, plain text for the terminal.

One renderer of each kind for every table driftloop shows, so a column is aligned and a number is written
the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def cell(value: object) -> str:
    """A value as Markdown table text: floats with 4 decimals, None as a dash, pipes escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
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


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A terminal table: columns two spaces apart, a rule under each named header, no trailing spaces.

    No trailing spaces, so a table can be compared as text (the golden tests do).
    """
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    rule = ["-" * width if header else "" for header, width in zip(headers, widths, strict=True)]
    lines = [list(headers), rule, *rows]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
