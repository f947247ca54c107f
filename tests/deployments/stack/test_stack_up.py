"""`driftloop stack up` checks every port (and the Dask workers' threads) before it starts anything: a taken
one is one line, nothing runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.stack.certs import certificate_files, ensure_certificates
from deployments.stack.ports import free_port
from deployments.stack.processes import StackError, record
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


def test_a_taken_dask_scheduler_port_or_too_many_threads_fail_up_before_any_service_starts(
    tmp_path: Path,
) -> None:
    cores = os.cpu_count() or 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = StackSettings(
            dir=str(tmp_path / "state"),
            secrets_dir=str(tmp_path / "secrets"),
            postgres_port=free_port(),
            prefect_port=free_port(),
            s3_port=free_port(),
            dask_workers=1,
            dask_scheduler_port=port,
        )

        with pytest.raises(StackError) as taken_port:
            Stack(settings, echo=lambda _: None).up()
    crowded = settings.model_copy(update={"dask_workers": cores + 1})
    with pytest.raises(StackError) as too_many:
        Stack(crowded, echo=lambda _: None).up()

    assert str(taken_port.value) == (
        f"dask-scheduler: port {port} on 127.0.0.1 is taken by another process: stop it, or set "
        "DRIFTLOOP_STACK_DASK_SCHEDULER_PORT to a free port"
    )
    assert str(too_many.value).startswith(
        f"{cores + 1} Dask workers × 1 thread = {cores + 1} threads, more than this machine's {cores} cores"
    )
    assert list((tmp_path / "state" / "run").iterdir()) == []


def test_dask_on_a_running_stack_whose_certificates_predate_it_asks_for_a_restart(tmp_path: Path) -> None:
    """SeaweedFS keeps the CA it started with: a new CA for Dask would break it at its next reload."""
    settings = StackSettings(
        dir=str(tmp_path / "state"),
        secrets_dir=str(tmp_path / "secrets"),
        postgres_port=free_port(),
        prefect_port=free_port(),
        dask_workers=1,
        dask_scheduler_port=free_port(),
    )
    legacy = ensure_certificates(settings.secrets / "tls").seaweedfs
    for files in certificate_files(settings.secrets / "tls")[1:]:
        files.cert.unlink()
        files.key.unlink()
    before = {path: path.read_bytes() for path in legacy}
    seaweedfs = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # "running"
    try:
        record(settings.state / "run" / "seaweedfs.pid", seaweedfs.pid)

        with pytest.raises(StackError) as error:
            Stack(settings, echo=lambda _: None).up()
    finally:
        seaweedfs.kill()
        seaweedfs.wait()

    assert str(error.value) == (
        f"the stack's certificates in {settings.secrets / 'tls'} predate Dask, and SeaweedFS runs with them: "
        "run `driftloop stack down`, then `driftloop stack up`"
    )
    assert {path: path.read_bytes() for path in legacy} == before
    assert [path.name for path in (settings.state / "run").iterdir()] == ["seaweedfs.pid"]
