"""The main job on the full flights data: the table the README shows, every model it registers rebuilt
byte for byte from its lineage, and a backtest whose default policy retells the same story.

This is the behaviour the README promises. It takes about a minute and a half; it is the one test that
runs the real, full-size replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.core.settings import Settings
from driftloop.lifecycle.reproduce import reproduce_version
from driftloop.lifecycle.runtime import open_runtime
from driftloop.registry import Registry
from tests.conftest import FLIGHTS_CONTRACT, REPO

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

# Printed by `driftloop run` since the retraining policy (v0.3): drift, performance or age. Until
# then every month was "DRIFT" and retrained (the v0.1 table is in docs/monitoring.md for comparison).
GOLDEN_TABLE = """\
month    champion  champion AUC  original AUC  drift index  retrained?  promoted?  why
-------  --------  ------------  ------------  -----------  ----------  ---------  -----------------
2013-04  v1        0.6597        0.6597        0.58         yes         yes -> v2  AUC 0.660 < 0.688
2013-05  v2        0.7391        0.7280        0.51         no          -
2013-06  v2        0.7365        0.7110        0.51         no          -
2013-07  v2        0.7042        0.6968        0.60         yes         yes -> v3  age 3
2013-08  v3        0.7130        0.6802        0.23         yes         yes -> v4  AUC 0.713 < 0.758
2013-09  v4        0.7199        0.6637        0.56         no          -
2013-10  v4        0.6364        0.6463        0.64         yes         yes -> v5  AUC 0.636 < 0.711
2013-11  v5        0.6685        0.6597        0.80         no          -
2013-12  v5        0.6702        0.6908        0.78         no          -"""


@pytest.fixture(scope="module")
def flights_replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("store")), contract=str(FLIGHTS_CONTRACT))
    return settings, lifecycle_flow(settings=settings)


def test_the_flights_replay_prints_the_golden_table(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert result.table() == GOLDEN_TABLE, "the table now reads:\n" + result.table()
    assert GOLDEN_TABLE in (REPO / "README.md").read_text(), "the README shows what the main job prints"


def test_each_month_is_read_once_for_gate_scores_and_monitor(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert result.batch_reads == {f"2013-{month:02d}": 1 for month in range(4, 13)}


def test_every_model_of_the_replay_rebuilds_byte_for_byte(flights_replay: tuple[Settings, object]) -> None:
    settings, _ = flights_replay
    runtime = open_runtime(settings)
    registry: Registry = runtime.registry
    outcomes = [reproduce_version(registry, v.version, runtime.contract) for v in registry.versions()]
    assert [o.version for o in outcomes] == [1, 2, 3, 4, 5]  # the first model and four retrainings
    assert [o.rebuilt_sha256 for o in outcomes] == [o.registered_sha256 for o in outcomes]
    assert all(o.differences == () for o in outcomes)


def test_the_timeline_is_a_png_in_the_store(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert Path(result.timeline).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_backtest_of_the_default_policy_retells_the_replay(
    flights_replay: tuple[Settings, object],
) -> None:
    """The backtest simulates what the main job does: same models, same AUCs, same retraining months.

    Up to August, three retrainings of the replay's four: a month's row depends only on the months before
    it, and the whole year's backtest (`driftloop backtest`, docs/monitoring.md) costs twice the time.
    """
    from flows.backtest import backtest_flow

    settings, replay = flights_replay
    result = backtest_flow(replay_to="2013-08", settings=settings)  # the same store: ingests are cache hits

    rows = replay.rows[:5]
    assert (
        [p.period for p in result.runs[0].periods]
        == [r.period for r in rows]
        == [f"2013-{month:02d}" for month in range(4, 9)]
    )
    configured = next(run for run in result.runs if run.default)
    assert configured.policy == "configured"
    assert [round(p.champion_auc, 4) for p in configured.periods] == [round(r.champion_auc, 4) for r in rows]
    assert [p.retrained for p in configured.periods] == [r.retrained for r in rows]
    assert [p.promoted for p in configured.periods] == [r.promoted for r in rows]
    every = next(run for run in result.runs if run.policy == "every-period")
    assert (every.alarms, every.retrains) == (5, 5)
    assert configured.alarms == 3  # April (AUC), July (age), August (AUC)
