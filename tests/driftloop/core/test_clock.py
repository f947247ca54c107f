"""Phase timings: each phase counts its own time once, nested phases included."""

from __future__ import annotations

import time

from driftloop.core.clock import PhaseClock


def test_a_phase_inside_another_is_counted_once() -> None:
    clock = PhaseClock()
    with clock.measure("evaluate"):
        time.sleep(0.02)
        with clock.measure("load window"):
            time.sleep(0.05)
    with clock.measure("evaluate"):
        time.sleep(0.01)

    totals = clock.totals()
    assert list(totals) == ["load window", "evaluate"]
    assert 0.05 <= totals["load window"] < 0.09
    assert 0.03 <= totals["evaluate"] < 0.07  # 0.02 + 0.01, without the 0.05 spent loading
