"""No test of the command line leaves the embedded default's local Prefect server running."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.cli.prefect_server import running_server, stop_local_server


@pytest.fixture(autouse=True)
def no_local_server_left() -> Iterator[None]:
    """Fail the test that left a local server under the session's PREFECT_HOME (after stopping it)."""
    yield
    home = Path(os.environ["PREFECT_HOME"])
    if running_server(home) is not None:
        stop_local_server(home)
        pytest.fail(f"the test left a local Prefect server running under {home}")
