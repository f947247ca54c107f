"""The replay timeline: the terminal table and the PNG are made from the rows they are given."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from driftloop.timeline import HEADERS, MonthRow, plot_timeline, render_table, table_records

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def row(month: str, **changes: object) -> MonthRow:
    values: dict[str, object] = {
        "month": month,
        "status": "ok",
        "champion_version": 1,
        "champion_auc": 0.7123,
        "original_auc": 0.7123,
        "drift_share": 0.1,
        "drifted": False,
        "retrained": False,
        "promoted": False,
    }
    values.update(changes)
    return MonthRow(**values)  # type: ignore[arg-type]


def year() -> list[MonthRow]:
    return [
        row("2013-04"),
        row("2013-05", drift_share=0.61, drifted=True, retrained=True, promoted=True, new_champion=2),
        row("2013-06", champion_version=2, champion_auc=0.6991, original_auc=0.6512),
        row("2013-07", status="blocked", champion_version=2, champion_auc=None, original_auc=None,
            drift_share=None),
        row("2013-08", champion_version=2, champion_auc=0.6804, original_auc=0.6301, drift_share=0.72,
            drifted=True, retrained=True),
        row("2013-09", champion_version=2, champion_auc=math.nan, original_auc=0.62),
        row("2013-10", champion_version=3, champion_auc=0.7011, original_auc=0.6107),
        row("2013-11", champion_version=3, champion_auc=0.7055, original_auc=0.6002, drift_share=0.3),
    ]  # fmt: skip


def _line(table: str, month: str) -> str:
    [line] = [line for line in table.splitlines() if line.startswith(month)]
    return line


def test_render_table_has_every_month_and_the_champion() -> None:
    rows = year()

    table = render_table(rows)
    lines = table.splitlines()

    assert lines[0].split()[:2] == ["month", "champion"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(rows)
    for one in rows:
        assert _line(table, one.month).split()[1] == f"v{one.champion_version}"
    assert _line(table, "2013-04").split()[:4] == ["2013-04", "v1", "0.7123", "0.7123"]
    assert _line(table, "2013-06").split()[:4] == ["2013-06", "v2", "0.6991", "0.6512"]


def test_a_blocked_month_shows_blocked_and_no_auc() -> None:
    table = render_table(year())

    blocked = _line(table, "2013-07").split()
    assert blocked == ["2013-07", "v2", "-", "-", "blocked", "no", "-"]
    assert "blocked" not in _line(table, "2013-06")


def test_drift_retrain_and_promotion_cells() -> None:
    table = render_table(year())

    assert _line(table, "2013-05").split()[4:] == ["0.61", "DRIFT", "yes", "yes", "->", "v2"]
    assert _line(table, "2013-08").split()[4:] == ["0.72", "DRIFT", "yes", "no"]  # retrained, not promoted
    assert _line(table, "2013-04").split()[4:] == ["0.10", "no", "-"]
    assert _line(table, "2013-09").split()[2] == "-"  # NaN AUC is shown as missing, not "nan"


def test_columns_are_aligned() -> None:
    lines = render_table(year()).splitlines()
    start = lines[0].index("drift share")

    for line in lines[2:]:
        assert line[start - 2 : start] == "  "
        assert line[start] != " "


def test_render_table_without_rows_is_just_the_header() -> None:
    assert render_table([]).splitlines()[0].split("  ")[0] == "month"
    assert len(render_table([]).splitlines()) == 2


def test_table_records_match_the_table() -> None:
    records = table_records(year())

    assert list(records[0]) == HEADERS
    assert records[3]["drift share"] == "blocked"
    assert records[1]["promoted?"] == "yes -> v2"
    assert [r["month"] for r in records] == [r.month for r in year()]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("timeline")
    rows = year()
    out = {}
    for name, subset in {"two": rows[:2], "eight": rows, "eight-again": rows}.items():
        path = plot_timeline(subset, folder / name / "timeline.png", "flights-delay replay")
        assert path == folder / name / "timeline.png"
        out[name] = path.read_bytes()
    return out


def test_plot_is_a_real_png(pictures: dict[str, bytes]) -> None:
    for data in pictures.values():
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 10_000


def test_plot_depends_on_the_rows(pictures: dict[str, bytes]) -> None:
    assert pictures["two"] != pictures["eight"]
    assert pictures["eight"] == pictures["eight-again"]  # same rows, same picture


def test_plot_depends_on_the_values(tmp_path: Path) -> None:
    rows = year()
    changed = [
        *rows[:2],
        row("2013-06", champion_version=2, champion_auc=0.55, original_auc=0.6512),
        *rows[3:],
    ]

    first = plot_timeline(rows, tmp_path / "a.png", "t").read_bytes()
    second = plot_timeline(changed, tmp_path / "b.png", "t").read_bytes()

    assert first != second
