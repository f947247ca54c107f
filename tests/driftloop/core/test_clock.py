"""The clock: each phase counts its own time once, nested phases included; `now_utc` as records store it."""

from __future__ import annotations

from datetime import datetime

from driftloop.core.clock import PhaseClock, now_utc


class ScriptedTimer:
    """A timer that moves only when told: phase times become exact, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_phase_inside_another_is_counted_once() -> None:
    timer = ScriptedTimer()
    clock = PhaseClock(timer)
    with clock.measure("evaluate"):
        timer.advance(2.0)
        with clock.measure("load window"):
            timer.advance(5.0)
    with clock.measure("evaluate"):
        timer.advance(1.0)

    totals = clock.totals()
    assert list(totals) == ["load window", "evaluate"]
    assert totals == {"load window": 5.0, "evaluate": 3.0}  # 2 + 1, without the 5 spent loading


def test_a_phase_that_raises_still_counts_its_time() -> None:
    timer = ScriptedTimer()
    clock = PhaseClock(timer)
    try:
        with clock.measure("train"):
            timer.advance(4.0)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert clock.totals() == {"train": 4.0}


def test_now_utc_is_iso_with_microseconds_and_an_offset() -> None:
    stamp = now_utc()
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert len(stamp.split(".")[1].split("+")[0]) == 6  # microseconds, always six digits
