"""The main job on the full flights data: the same table as every release since v0.1, and every model
it registers rebuilds byte for byte from its lineage.

This is the behaviour the README promises. It takes about a minute and a half; it is the one test that
runs the real, full-size replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.registry import Registry
from driftloop.reproduce import reproduce_version
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from tests.conftest import FLIGHTS_CONTRACT, REPO

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

# Printed by `driftloop run` in v0.1 (before the foundation work) and unchanged since.
GOLDEN_TABLE = """\
month    champion  champion AUC  original AUC  drift share  retrained?  promoted?
-------  --------  ------------  ------------  -----------  ----------  ---------
2013-04  v1        0.6597        0.6597        0.39 DRIFT   yes         yes -> v2
2013-05  v2        0.7391        0.7280        0.50 DRIFT   yes         yes -> v3
2013-06  v3        0.7259        0.7110        0.50 DRIFT   yes         yes -> v4
2013-07  v4        0.7275        0.6968        0.44 DRIFT   yes         yes -> v5
2013-08  v5        0.7130        0.6802        0.44 DRIFT   yes         yes -> v6
2013-09  v6        0.7199        0.6637        0.50 DRIFT   yes         no
2013-10  v6        0.6364        0.6463        0.44 DRIFT   yes         yes -> v8
2013-11  v8        0.6685        0.6597        0.39 DRIFT   yes         no
2013-12  v8        0.6702        0.6908        0.50 DRIFT   yes         no"""


@pytest.fixture(scope="module")
def flights_replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    from flows.lifecycle import lifecycle_flow

    settings = Settings.load(store=str(tmp_path_factory.mktemp("store")), contract=str(FLIGHTS_CONTRACT))
    return settings, lifecycle_flow(settings=settings)


def test_the_flights_replay_prints_the_golden_table(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert result.table() == GOLDEN_TABLE
    assert GOLDEN_TABLE in (REPO / "README.md").read_text(), "the README shows what the main job prints"


def test_each_month_is_read_once_for_gate_scores_and_monitor(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert result.batch_reads == {f"2013-{month:02d}": 1 for month in range(4, 13)}


def test_every_model_of_the_replay_rebuilds_byte_for_byte(flights_replay: tuple[Settings, object]) -> None:
    settings, _ = flights_replay
    runtime = open_runtime(settings)
    registry: Registry = runtime.registry
    outcomes = [reproduce_version(registry, v.version, runtime.contract) for v in registry.versions()]
    assert [o.version for o in outcomes] == list(range(1, 11))
    assert [o.rebuilt_sha256 for o in outcomes] == [o.registered_sha256 for o in outcomes]
    assert all(o.differences == () for o in outcomes)


def test_the_timeline_is_a_png_in_the_store(flights_replay: tuple[Settings, object]) -> None:
    _, result = flights_replay
    assert Path(result.timeline).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
