"""The clock: the one way driftloop writes "now" into a record, and where a run's time went per phase."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def now_utc() -> str:
    """Now, as stored in every record: UTC ISO-8601 with microseconds (sorts as text, compares as time)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class PhaseClock:
    """Accumulates wall seconds per phase name; a phase measured inside another counts only once."""

    def __init__(self, timer: Callable[[], float] = time.perf_counter) -> None:
        self._timer = timer  # seconds from an arbitrary origin; tests give a scripted one
        self._seconds: defaultdict[str, float] = defaultdict(float)
        self._nested: list[float] = []  # per open measurement: seconds spent in phases inside it

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        started = self._timer()
        self._nested.append(0.0)
        try:
            yield
        finally:
            elapsed = self._timer() - started
            inner = self._nested.pop()
            self._seconds[phase] += elapsed - inner
            if self._nested:
                self._nested[-1] += elapsed

    def totals(self) -> dict[str, float]:
        """Seconds per phase, in the order phases were first measured."""
        return dict(self._seconds)
