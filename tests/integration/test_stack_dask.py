"""The stack's Dask cluster as a user gets it: `stack up` with two workers, `stack status` showing them, a
client with the certificate `stack env` names computing on them, a client without it refused, and
`stack down` leaving no Dask process behind.

The tests run in file order on one module's stack; the last one takes the cluster down.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest

from deployments.stack.certs import ensure_certificates
from deployments.stack.processes import recorded_process, running
from driftloop.core.settings import DaskSettings
from tests.integration.conftest import DASK_WORKERS, StackHandle

if TYPE_CHECKING:
    from distributed.security import Security

pytestmark = pytest.mark.integration
REFUSED_WITHIN_SECONDS = 5.0


def _run_dir(stack: StackHandle) -> Path:
    return stack.state / "state" / "run"


def _dask_family(stack: StackHandle) -> list[psutil.Process]:
    """The scheduler and each worker's nanny as recorded, with their children (the worker processes)."""
    family = []
    for pid_file in sorted(_run_dir(stack).glob("dask-*.pid")):
        process = recorded_process(pid_file)
        assert process is not None, f"{pid_file.name} names no running process"
        family += [process, *process.children(recursive=True)]
    return family


def _dask_settings(stack: StackHandle, monkeypatch: pytest.MonkeyPatch) -> DaskSettings:
    """What driftloop reads in a shell after `eval "$(driftloop stack env)"`."""
    for name, value in stack.env.items():
        if name.startswith("DRIFTLOOP_DASK_"):
            monkeypatch.setenv(name, value)
    return DaskSettings()


def _security(ca: str, cert: str, key: str) -> Security:
    from distributed.security import Security

    return Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)


def _identity_without_certificate(address: str, ca: str) -> object:
    """The scheduler's identity, asked over TLS that trusts the stack's CA but presents no certificate."""
    from distributed.comm import connect

    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False

    async def ask() -> object:
        comm = await connect(address, timeout=REFUSED_WITHIN_SECONDS, ssl_context=context)
        try:
            await comm.write({"op": "identity"})
            return await asyncio.wait_for(comm.read(), REFUSED_WITHIN_SECONDS)
        finally:
            await comm.close()

    return asyncio.run(ask())


def test_status_names_the_scheduler_and_its_two_workers_and_the_flow_runs_get_the_cluster(
    dask_stack: StackHandle,
) -> None:
    status = dask_stack.run("driftloop", "stack", "status")

    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    address = dask_stack.env["DRIFTLOOP_DASK_ADDRESS"]
    assert address == f"tls://127.0.0.1:{dask_stack.env['DRIFTLOOP_STACK_DASK_SCHEDULER_PORT']}"
    assert "healthy" in lines["dask-scheduler"].split()
    assert f"{address} (2 workers, 2 threads, 2.0 GiB)" in lines["dask-scheduler"]
    for index in range(DASK_WORKERS):
        line = lines[f"dask-worker-{index}"]
        assert line.split()[1] == "healthy" and "(1 thread, 1.0 GiB)" in line, line
        assert "tls://127.0.0.1:" in line
    assert list(lines) == [
        "postgres",
        "seaweedfs",
        "prefect-server",
        "dask-scheduler",
        "dask-worker-0",
        "dask-worker-1",
        "worker",
    ]
    # The worker's flow runs inherit its environment: the cluster's address and the client certificate.
    worker = recorded_process(_run_dir(dask_stack) / "worker.pid")
    assert worker is not None
    environ = worker.environ()
    printed = {name: value for name, value in dask_stack.env.items() if name.startswith("DRIFTLOOP_DASK_")}
    assert len(printed) == 4
    assert {name: environ.get(name) for name in printed} == printed


def test_a_client_with_the_stack_s_certificate_computes_and_one_without_it_is_refused(
    dask_stack: StackHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from distributed import Client

    dask = _dask_settings(dask_stack, monkeypatch)
    assert dask.address and dask.tls_ca_file and dask.tls_cert_file and dask.tls_key_file
    security = _security(dask.tls_ca_file, dask.tls_cert_file, dask.tls_key_file)

    with Client(dask.address, security=security, timeout=dask.connect_timeout_seconds) as client:
        squares = client.gather(client.map(lambda x: x * x, range(10)))
        ran_on = set(client.run(lambda dask_worker: dask_worker.name).values())

    assert squares == [x * x for x in range(10)]
    assert ran_on == {"dask-worker-0", "dask-worker-1"}
    # A certificate from another CA, then no certificate at all: refused, and quickly.
    stranger = ensure_certificates(tmp_path / "another-ca").dask_client
    began = time.monotonic()
    with pytest.raises(OSError):  # distributed's CommClosedError, after the TLS alert
        Client(
            dask.address,
            security=_security(dask.tls_ca_file, str(stranger.cert), str(stranger.key)),
            timeout=REFUSED_WITHIN_SECONDS,
        )
    with pytest.raises((OSError, TimeoutError)):
        _identity_without_certificate(dask.address, dask.tls_ca_file)
    assert time.monotonic() - began < 2 * REFUSED_WITHIN_SECONDS


def _refused_without_certificate(port: int) -> bool:
    """A TLS handshake that presents no certificate is ended by the server (an alert or a close)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"\x00" * 8)
            tls.recv(1)
    except (ssl.SSLError, ConnectionError):
        return True
    return False


def test_every_dask_listener_is_on_loopback_and_serves_nobody_without_the_certificate(
    dask_stack: StackHandle,
) -> None:
    listening = {
        connection.laddr
        for process in _dask_family(dask_stack)
        for connection in process.net_connections("tcp")
        if connection.status == psutil.CONN_LISTEN
    }
    scheduler = int(dask_stack.env["DRIFTLOOP_STACK_DASK_SCHEDULER_PORT"])

    assert {address.ip for address in listening} == {"127.0.0.1"}
    # The scheduler, 2 nannies and 2 workers speak TLS; the scheduler and the workers also run Dask's
    # HTTP server, which cannot be turned off: it serves no route.
    assert scheduler in {address.port for address in listening} and len(listening) == 5 + 3
    for port in sorted(address.port for address in listening):
        try:
            answers = [
                httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3).status_code
                for path in ("/", "/health", "/metrics", "/json/identity.json", "/info/main/workers.html")
            ]
        except httpx.HTTPError:  # a TLS listener
            assert _refused_without_certificate(port), f"port {port} took a TLS client without a certificate"
        else:
            assert set(answers) == {404}, f"port {port} answered {answers}"


def test_down_stops_the_workers_before_the_scheduler_and_leaves_no_dask_process(
    dask_stack: StackHandle,
) -> None:
    family = _dask_family(dask_stack)
    assert len(family) >= 1 + 2 * DASK_WORKERS  # scheduler; a nanny and its worker process each

    down = dask_stack.run("driftloop", "stack", "down")

    stopped = [line.split(":")[0] for line in down.stdout.splitlines() if ": stopped" in line]
    assert stopped == [
        "worker",
        "dask-worker-1",
        "dask-worker-0",
        "dask-scheduler",
        "prefect-server",
        "seaweedfs",
        "postgres",
    ]
    assert [str(process) for process in family if running(process)] == []
    assert list(_run_dir(dask_stack).glob("*.pid")) == []
