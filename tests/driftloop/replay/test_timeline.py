"""The replay's picture is a real PNG made from the rows it is given, the same rows giving the same bytes."""

from __future__ import annotations

import pytest

from driftloop.replay.timeline import plot_timeline
from tests.driftloop.replay.test_replay import row, year

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    rows = year()
    out = {}
    for name, subset in {"two": rows[:2], "eight": rows, "eight-again": rows}.items():
        out[name] = plot_timeline(subset, "flights-delay replay")
    return out


def test_plot_is_a_real_png(pictures: dict[str, bytes]) -> None:
    for data in pictures.values():
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 10_000


def test_plot_depends_on_the_rows(pictures: dict[str, bytes]) -> None:
    assert pictures["two"] != pictures["eight"]
    assert pictures["eight"] == pictures["eight-again"]  # same rows, same picture


def test_plot_depends_on_the_values() -> None:
    rows = year()
    changed = [
        *rows[:2],
        row("2013-06", champion_version=2, champion_auc=0.55, original_auc=0.6512),
        *rows[3:],
    ]

    first = plot_timeline(rows, "t")
    second = plot_timeline(changed, "t")

    assert first != second
