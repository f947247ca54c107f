"""`driftloop stack up` checks every port before it starts anything: a taken one is one line, nothing runs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deployments.stack.processes import StackError
from deployments.stack.settings import StackSettings
from deployments.stack.stack import Stack


def test_a_taken_port_fails_up_before_any_service_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = StackSettings(
            dir=str(tmp_path / "state"), secrets_dir=str(tmp_path / "secrets"), s3_port=port
        )

        with pytest.raises(StackError) as error:
            Stack(settings, echo=lambda _: None).up()

    assert str(error.value) == (
        f"seaweedfs: port {port} on 127.0.0.1 is taken by another process: stop it, or set "
        "DRIFTLOOP_STACK_S3_PORT to a free port"
    )
    assert list((tmp_path / "state" / "run").iterdir()) == []  # no pid: PostgreSQL was not started either
