"""The replay's picture shows the rows it is given: each panel's values checked as numbers, then drawn."""

from __future__ import annotations

import math

import pytest

from driftloop.replay.timeline import plot_timeline, timeline_points
from tests.driftloop.replay.test_replay import row, year

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_auc_panel_shows_each_periods_champion_and_the_original_model() -> None:
    points = timeline_points(year())
    assert points.periods == tuple(f"2013-{month:02d}" for month in range(4, 12))
    assert points.champion_auc[:3] == (0.7123, 0.7123, 0.6991)
    assert points.original_auc[2] == 0.6512
    assert math.isnan(points.champion_auc[3]) and math.isnan(points.original_auc[3])  # blocked: no point
    assert math.isnan(points.champion_auc[5])  # an AUC on one class is not drawn as a number
    assert points.champion == ("v1", "v1", "v2", "v2", "v2", "v2", "v3", "v3")
    assert points.promoted_after == (1,)  # a line after May: v2 serves from June
    assert points.blocked == (3,)  # July is shaded


def test_the_drift_panel_shows_the_index_red_when_it_alarmed_and_what_was_decided() -> None:
    points = timeline_points(year())
    assert points.drift == (0.1, 1.61, 0.1, 0.0, 0.72, 0.1, 0.1, 0.3)  # a blocked month has no bar
    assert points.drifted == (False, True, False, False, False, False, False, False)
    assert points.decision == ("", "promoted", "", "blocked", "retrained", "", "", "")


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    rows = year()
    changed = [*rows[:2], row("2013-06", champion="v2", champion_auc=0.55, original_auc=0.6512), *rows[3:]]
    return {
        "eight": plot_timeline(rows, "flights-delay replay"),
        "eight-again": plot_timeline(rows, "flights-delay replay"),
        "changed": plot_timeline(changed, "flights-delay replay"),
    }


def test_the_picture_is_a_png_drawn_from_those_values(pictures: dict[str, bytes]) -> None:
    assert all(data.startswith(PNG_SIGNATURE) for data in pictures.values())
    assert pictures["eight"] == pictures["eight-again"]  # the same rows draw the same picture
    assert pictures["eight"] != pictures["changed"]  # one AUC changed is a different picture
