"""Which periods a replay trains on first and which it replays; a replay refuses a used registry."""

from __future__ import annotations

from driftloop.core.periods import PeriodKind, check_period, period_range, shift_period
from driftloop.core.records import Record
from driftloop.registry import Registry


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


def later_window(
    plan: ReplayPlan, available: list[str], kind: PeriodKind, window: int, replay_to: str | None = None
) -> ReplayPlan:
    """The plan whose first training window starts right after `plan`'s (none of whose periods passed the
    contract): its periods are neither trained on nor replayed.

    Raises:
        NothingToReplay: no period is left to replay after a window; the message names the periods skipped.
    """
    start = shift_period(plan.initial[-1], 1, kind)
    try:
        return plan_replay(available, kind, window, train_from=start, replay_to=replay_to)
    except NothingToReplay as nothing:
        raise NothingToReplay(
            f"no training window passes the data contract up to {plan.initial[-1]} (its periods are "
            f"quarantined), and after it {nothing}"
        ) from None
