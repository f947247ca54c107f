"""The same flows with `DRIFTLOOP_DASK_ADDRESS` set: the periods are prepared on the cluster's workers, and
training runs there, on a real scheduler with two workers started with Dask's CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.core.settings import DaskSettings, PolicySettings, Settings
from driftloop.core.storage import LocalStorage
from driftloop.registry import Registry
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def _on(settings: Settings, address: str) -> Settings:
    return settings.model_copy(update={"dask": DaskSettings(address=address)})


@pytest.fixture(scope="module")
def replays(file_source: Path, tmp_path_factory: pytest.TempPathFactory, dask_scheduler: str) -> dict:
    """The main job to June, once in this process and once with the cluster."""
    from flows.lifecycle import lifecycle_flow

    every = PolicySettings(triggers=("every-period",))
    out = {}
    for name, address in (("local", None), ("cluster", dask_scheduler)):
        store = tmp_path_factory.mktemp(f"store-{name}")
        settings = slice_settings(str(store), file_source).model_copy(update={"policy": every})
        settings = _on(settings, address) if address else settings
        out[name] = (settings, lifecycle_flow(replay_to="2013-06", settings=settings))
    return out


def test_the_cluster_replays_the_same_periods_with_the_same_verdicts(replays: dict) -> None:
    local, cluster = replays["local"][1], replays["cluster"][1]
    assert [(r.period, r.status) for r in cluster.rows] == [(r.period, r.status) for r in local.rows]
    assert [r.status for r in cluster.rows] == ["blocked", "ok", "ok"]  # April quarantined on a worker
    assert [r.retrained for r in cluster.rows] == [r.retrained for r in local.rows]
    for theirs, ours in zip(cluster.rows[1:], local.rows[1:], strict=True):
        assert abs(theirs.champion_auc - ours.champion_auc) < 0.01  # models of equivalent quality


def test_every_model_of_the_cluster_replay_was_trained_on_the_workers(replays: dict) -> None:
    settings, _ = replays["cluster"]
    versions = Registry(LocalStorage(settings.storage.url), "flights-delay").versions()
    assert len(versions) == 3
    assert {(v.lineage.engine.kind, v.lineage.engine.workers) for v in versions} == {("dask", 2)}
    local_settings, _ = replays["local"]
    local = Registry(LocalStorage(local_settings.storage.url), "flights-delay").versions()
    assert {v.lineage.engine.kind for v in local} == {"local"}
    for theirs, ours in zip(versions, local, strict=True):
        assert theirs.lineage.feature_spec_sha256 == ours.lineage.feature_spec_sha256
        assert abs(theirs.metrics.holdout.auc - ours.metrics.holdout.auc) < 0.01


def test_the_periods_were_prepared_on_the_cluster(replays: dict) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["prepare-periods"])))
    assert any(run.name == "prepare 2013-01..2013-06" and run.state.is_completed() for run in runs)
