"""The replay's story as a table: per period, the champion, its live AUC, the original model's, drift and
what was decided."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import AliasChoices, Field

from driftloop.core.periods import PeriodKind, check_period, period_range, shift_period
from driftloop.core.records import Record
from driftloop.registry import Registry


class ReplayRow(Record):
    """One replayed period, as the main job reports it."""

    period: str = Field(validation_alias=AliasChoices("period", "month"))
    status: Literal["ok", "blocked"]  # blocked: the batch was quarantined by the gate
    champion_version: int | None  # the model that scored this period
    champion_auc: float | None  # its AUC on the period (labels known at period end)
    original_auc: float | None  # AUC the first model would have had on the period
    drift_index: float | None = Field(validation_alias=AliasChoices("drift_index", "drift_share"))
    drifted: bool
    retrained: bool
    promoted: bool
    new_champion: int | None = None
    alarms: tuple[str, ...] = ()  # the configured policy's triggers that fired
    why: str | None = None  # the alarms in a few words


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _cells(row: ReplayRow) -> list[str]:
    promoted = f"yes -> v{row.new_champion}" if row.promoted else ("no" if row.retrained else "-")
    return [
        row.period,
        f"v{row.champion_version}" if row.champion_version else "-",
        _fmt(row.champion_auc),
        _fmt(row.original_auc),
        "blocked"
        if row.status == "blocked"
        else f"{_fmt(row.drift_index, 2)}{' DRIFT' if row.drifted else ''}",
        "yes" if row.retrained else "no",
        promoted,
        row.why or "",
    ]


def headers(period_kind: str) -> list[str]:
    return [
        period_kind,
        "champion",
        "champion AUC",
        "original AUC",
        "drift index",
        "retrained?",
        "promoted?",
        "why",
    ]


def render_table(rows: list[ReplayRow], period_kind: str = "month") -> str:
    """A plain-text table for the terminal (no trailing spaces, so it can be compared as text)."""
    names = headers(period_kind)
    body = [_cells(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(names)]
    line = "  ".join(h.ljust(w) for h, w in zip(names, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    rows_text = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(text.rstrip() for text in [line, rule, *rows_text])


def table_records(rows: list[ReplayRow], period_kind: str = "month") -> list[dict[str, str]]:
    """The same table as records, for a Prefect table artifact."""
    return [dict(zip(headers(period_kind), _cells(row), strict=True)) for row in rows]


class ReplayPlan(Record):
    """Which periods train the first model, which are replayed, and which hold no data at all."""

    initial: tuple[str, ...]
    replay: tuple[str, ...]
    gaps: tuple[str, ...]


class UsedRegistry(LookupError):
    """The replay's registry already holds models: they have seen the future the replay walks through."""


def refuse_used_registry(registry: Registry) -> None:
    """A replay of the past must not be served by models that have already seen its future."""
    existing = registry.versions()
    if existing:
        raise UsedRegistry(
            f"{registry.model} in {registry.storage.url} already has {len(existing)} version(s) from an "
            "earlier run; a replay starts from an empty registry: use `driftloop run` (it archives an "
            "earlier local store) or point --store at an empty one"
        )


class NothingToReplay(LookupError):
    """The source holds no period to train on or none to replay."""


def plan_replay(
    available: list[str],
    kind: PeriodKind,
    window: int,
    train_from: str | None = None,
    train_to: str | None = None,
    replay_to: str | None = None,
) -> ReplayPlan:
    """Train on `window` periods from the first one with data, then replay every later period with data.

    Args:
        available: the periods that hold data, oldest first.
        kind: the contract's period kind.
        window: periods of the initial training window.
        train_from: first period of the initial window (default: the first with data).
        train_to: its last period (default: `window` periods after `train_from`).
        replay_to: last period to replay (default: the last with data).

    Returns:
        The plan; a period without data inside the span is named once in `gaps`, never ingested.
    """
    if not available:
        raise NothingToReplay("the source holds no data at all: check the contract's source")
    first = check_period(train_from, kind) if train_from else available[0]
    initial_end = check_period(train_to, kind) if train_to else shift_period(first, window - 1, kind)
    last = check_period(replay_to, kind) if replay_to else available[-1]
    if last <= initial_end:
        raise NothingToReplay(
            f"nothing to replay: the data ends at {available[-1]} and the first training window ends at "
            f"{initial_end}"
        )
    initial_span = period_range(first, initial_end, kind)
    replay_span = period_range(shift_period(initial_end, 1, kind), last, kind)
    present = set(available)
    initial = tuple(p for p in initial_span if p in present)
    if not initial:
        raise NothingToReplay(f"no data in the first training window {first}..{initial_end}")
    return ReplayPlan(
        initial=initial,
        replay=tuple(p for p in replay_span if p in present),
        gaps=tuple(p for p in [*initial_span, *replay_span] if p not in present),
    )
