"""Fixtures of the fault suite: a store where `train` ran once, never killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.errors import ExitCode
from tests.faults.harness import TRAIN, Cli


@pytest.fixture(scope="session")
def trained(file_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A store where `train` ran once, never killed: what every killed run must end up as."""
    cli = Cli(tmp_path_factory.mktemp("never-killed") / "store", file_source)
    done = cli.run(*TRAIN)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    return cli
