"""`driftloop backtest` on the real slice: every policy over the same months, as a table, a PNG and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.cli import main
from driftloop.core import layout
from driftloop.core.storage import LocalStorage
from driftloop.replay.backtest import BacktestResult

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def backtest(file_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    root = tmp_path_factory.mktemp("backtest")
    argv = [
        "backtest", "--replay-to", "2013-06", "--json", str(root / "policies.json"), "--plot",
        str(root / "backtest.png"), "--store", str(root / "store"), "--contract", str(file_source),
    ]  # fmt: skip
    return main(argv), "", root


def test_the_json_has_one_object_per_policy_and_one_default(backtest: tuple[int, str, Path]) -> None:
    code, _, root = backtest
    assert code == 0
    policies = json.loads((root / "policies.json").read_text())
    assert [p["policy"] for p in policies] == [
        "never", "every-period", "fixed-drift", "calibrated-drift", "performance", "configured",
    ]  # fmt: skip
    assert {"policy", "alarms", "retrains", "mean_auc", "worst_auc", "default"} <= set(policies[0])
    assert [p["policy"] for p in policies if p["default"]] == ["configured"]
    by_name = {p["policy"]: p for p in policies}
    assert (by_name["never"]["alarms"], by_name["never"]["retrains"], by_name["never"]["train_seconds"]) == (
        0,
        0,
        0,
    )
    # April is quarantined: two months left to replay, and "every period" retrains both of them
    assert (by_name["every-period"]["alarms"], by_name["every-period"]["retrains"]) == (2, 2)
    assert by_name["every-period"]["train_seconds"] > 0


def test_the_png_and_the_stored_result_tell_the_same_story(backtest: tuple[int, str, Path]) -> None:
    _, _, root = backtest
    assert (root / "backtest.png").read_bytes().startswith(PNG_SIGNATURE)
    storage = LocalStorage(root / "store")
    result = BacktestResult.from_json(storage.read_bytes(layout.backtest_report("flights", "backtest.json")))
    assert storage.read_bytes(layout.backtest_report("flights", "backtest.png")).startswith(PNG_SIGNATURE)
    assert result.replay == ("2013-04", "2013-05", "2013-06")
    for run in result.runs:
        april = run.periods[0]
        assert (april.status, april.champion_auc, april.retrained) == ("blocked", None, False)
        assert run.periods[1].champion == "2013-03"  # the first model serves May under every policy
    every = next(run for run in result.runs if run.policy == "every-period")
    assert [p.retrained for p in every.periods] == [False, True, True]
    assert every.periods[1].reasons[0] == "every period is retrained"


def test_the_table_marks_the_default_and_says_what_it_does(backtest: tuple[int, str, Path]) -> None:
    from driftloop.replay.backtest import render_backtest

    _, _, root = backtest
    result = BacktestResult.from_json(
        LocalStorage(root / "store").read_bytes(layout.backtest_report("flights", "backtest.json"))
    )
    lines = render_backtest(result).splitlines()
    assert lines[0].split() == [
        "policy",
        "alarms",
        "retrains",
        "promotions",
        "mean",
        "AUC",
        "worst",
        "AUC",
        "train",
        "s",
    ]
    [configured] = [line for line in lines if line.startswith("configured")]
    assert configured.endswith("<- default (retrain on drift or performance or age 3)")
    assert lines[-2:] == [
        "3 months replayed (2013-04..2013-06) after training on 2013-01..2013-03; label delay 0.",
        "AUC estimated without labels vs realized, default policy's champion: mean error -0.0194, "
        "largest -0.0377 (2 periods).",
    ]
