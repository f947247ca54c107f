"""Training on a real Dask cluster (a scheduler and two workers started with Dask's CLI): the workers read
the window from the store, and the model is as good as one trained in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.core.contract import Contract
from driftloop.core.settings import DaskSettings, DriftSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import ingest_period
from driftloop.data.sources import SourceProvenance, SourceTables
from driftloop.data.windows import load_window, resolve_windows, window_periods
from driftloop.lifecycle.challenger import build_candidate, train_challenger_on_cluster
from driftloop.lifecycle.cluster import ClusterUnreachable, connect, engine_of
from driftloop.lifecycle.reproduce import reproduce_version
from driftloop.registry import Registry

SETTINGS = TrainingSettings(max_rounds=60, cv_folds=3, num_threads=1)
DRIFT = DriftSettings(sample_rows=2000)


@pytest.fixture(scope="module")
def trained(file_source: Path, tmp_path_factory: pytest.TempPathFactory, dask_scheduler: str) -> dict:
    from driftloop.core.contract import load_contract

    contract: Contract = load_contract(file_source)
    store = LocalStorage(tmp_path_factory.mktemp("cluster-store"))
    sources = SourceTables(contract)
    plan = resolve_windows(contract, SETTINGS)
    periods = window_periods("2013-03", plan.train_periods, plan.kind)
    versions = [ingest_period(store, contract, sources.read_period(p), p) for p in periods]
    local = build_candidate(load_window(store, contract, periods, versions, sources.references(), plan),
                            contract, SETTINGS, DRIFT)  # fmt: skip
    client = connect(DaskSettings(address=dask_scheduler))
    registry = Registry(store, contract.model_name)
    source = SourceProvenance(source_fingerprint="test", reference_tables_sha256={})
    challenger, holdout = train_challenger_on_cluster(
        registry, contract, client, store.url, periods, versions, plan, "2013-03", SETTINGS, DRIFT, source
    )
    yield {"contract": contract, "local": local, "challenger": challenger, "holdout": holdout,
           "registry": registry, "client": client}  # fmt: skip
    client.close()


def test_the_cluster_trains_a_model_as_good_as_one_machine(trained: dict) -> None:
    local, challenger = trained["local"], trained["challenger"]
    lineage = challenger.version.lineage
    assert abs(challenger.holdout.auc - local.holdout.auc) < 0.01
    assert lineage.feature_spec_sha256 == local.trained.spec.fingerprint  # the same levels from the workers
    assert lineage.train_rows == local.trained.train_rows  # every training row, read by the workers
    assert challenger.holdout.rows == local.holdout.rows == len(trained["holdout"].holdout_frame)
    assert (lineage.engine.kind, lineage.engine.workers, lineage.engine.threads_per_worker) == (
        "dask",
        2,
        (1, 1),
    )


def test_its_evaluation_uses_the_holdout_the_workers_sent(trained: dict) -> None:
    holdout = trained["holdout"]
    assert (
        holdout.holdout.all()
        and holdout.holdout_start.isoformat() == trained["challenger"].version.lineage.holdout_start
    )


def test_a_rebuild_says_it_needs_the_same_shape_and_rebuilds_on_it(trained: dict) -> None:
    registry, contract = trained["registry"], trained["contract"]
    version = trained["challenger"].version.version
    alone = reproduce_version(registry, version, contract)
    assert alone.rebuilt_sha256 is None
    assert alone.differences[-1] == (
        "engine: trained on a Dask cluster of 2 worker(s) (1, 1 thread(s)); a rebuild needs a cluster of "
        "that shape (DRIFTLOOP_DASK_ADDRESS), and here is one process"
    )
    again = reproduce_version(registry, version, contract, cluster=trained["client"])
    assert engine_of(trained["client"]).same_shape(trained["challenger"].version.lineage.engine)
    assert again.rebuilt_sha256 is not None  # rebuilt on the workers, from the stored data versions
    if again.rebuilt_sha256 != again.registered_sha256:
        assert again.differences[-1].startswith(
            "engine: rebuilt on a Dask cluster of 2 worker(s) (1, 1 thread"
        )


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with pytest.raises(
        ClusterUnreachable, match=r"the Dask scheduler at tcp://127\.0\.0\.1:9 did not answer"
    ):
        connect(DaskSettings(address="tcp://127.0.0.1:9", connect_timeout_seconds=2))
