"""The stack's Dask cluster: what `stack up` runs for it, what a client is given, and the threads rule.

The cluster test starts a real scheduler and worker from the launch specs; nothing of Dask is mocked.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from deployments.stack.certs import TlsFiles, ensure_certificates
from deployments.stack.clients import PROJECT_DIR, client_env
from deployments.stack.dask_cluster import (
    PROBE_TIMEOUT_SECONDS,
    SCHEDULER,
    client_security,
    cluster_workers,
    require_cores,
    scheduler_spec,
    worker_index,
    worker_spec,
)
from deployments.stack.ports import free_port
from deployments.stack.prefect_services import worker_spec as prefect_worker_spec
from deployments.stack.processes import StackError, launch, stop
from deployments.stack.secrets import StackSecrets, load_or_create
from deployments.stack.settings import StackSettings
from deployments.stack.stack import Stack
from driftloop.core.settings import DaskSettings


def _settings(tmp_path: Path, **dask: object) -> StackSettings:
    return StackSettings(dir=str(tmp_path / "state"), secrets_dir=str(tmp_path / "secrets"), **dask)


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_default_stack_has_no_dask_and_gives_clients_no_cluster(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    stack = Stack(settings, echo=lambda _: None)

    assert settings.dask_workers == 0
    assert stack.services() == ["postgres", "seaweedfs", "prefect-server", "worker"]
    assert [name for name in stack.client_env() if name.startswith("DRIFTLOOP_DASK_")] == []


def test_the_threads_of_all_workers_fit_the_cores_unless_the_user_insists(tmp_path: Path) -> None:
    require_cores(_settings(tmp_path, dask_workers=2), cores=2)  # the default: one thread a worker
    require_cores(_settings(tmp_path, dask_workers=1, dask_threads_per_worker=2), cores=2)

    with pytest.raises(StackError) as error:
        require_cores(_settings(tmp_path, dask_workers=2, dask_threads_per_worker=2), cores=2)
    with pytest.raises(StackError):
        require_cores(_settings(tmp_path, dask_workers=3), cores=2)
    require_cores(_settings(tmp_path, dask_workers=3, dask_oversubscribe=True), cores=2)

    assert str(error.value) == (
        "2 Dask workers × 2 threads = 4 threads, more than this machine's 2 cores: lower "
        "DRIFTLOOP_STACK_DASK_WORKERS or DRIFTLOOP_STACK_DASK_THREADS_PER_WORKER, or set "
        'DRIFTLOOP_STACK_DASK_OVERSUBSCRIBE=true (see "Two runs on the same cores" in docs/operations.md)'
    )


def test_the_scheduler_listens_on_loopback_with_mutual_tls_and_no_dashboard(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dask_workers=2, dask_scheduler_port=18786)
    tls = ensure_certificates(settings.secrets / "tls").dask

    spec = scheduler_spec(settings, tls, tmp_path / "scheduler.log")

    argv = spec.argv
    assert argv[:3] == [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    assert (_option(argv, "--host"), _option(argv, "--port"), _option(argv, "--protocol")) == (
        "127.0.0.1",
        "18786",
        "tls",
    )
    assert (_option(argv, "--tls-ca-file"), _option(argv, "--tls-cert"), _option(argv, "--tls-key")) == (
        str(tls.ca),
        str(tls.cert),
        str(tls.key),
    )
    # Dask's HTTP server starts anyway: on a random loopback port, with no route to serve.
    assert {"--no-dashboard", "--no-jupyter"} <= set(argv)
    assert _option(argv, "--dashboard-address") == "127.0.0.1:0"
    assert spec.env["DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"] == "[]"
    assert spec.env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    assert spec.name == SCHEDULER and spec.cwd == settings.state / "dask"


def test_a_worker_has_its_threads_memory_limit_and_folder_and_the_runs_settings_but_not_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLOOP_TRAIN_MAX_ROUNDS", "60")  # a setting of the shell that ran `stack up`
    settings = _settings(
        tmp_path,
        dask_workers=2,
        dask_threads_per_worker=2,
        dask_memory_limit="3GiB",
        dask_scheduler_port=18786,
    )
    secrets = StackSecrets.generate()
    tls = ensure_certificates(settings.secrets / "tls").dask

    spec = worker_spec(settings, secrets, tls, 1, tmp_path / "worker.log")

    argv = spec.argv
    assert argv[:4] == [sys.executable, "-m", "distributed.cli.dask_worker", "tls://127.0.0.1:18786"]
    assert (_option(argv, "--name"), _option(argv, "--host")) == ("dask-worker-1", "127.0.0.1")
    assert (_option(argv, "--nworkers"), _option(argv, "--nthreads")) == ("1", "2")
    assert _option(argv, "--memory-limit") == "3GiB"
    assert _option(argv, "--local-directory") == str(settings.state / "dask" / "dask-worker-1")
    assert (settings.state / "dask" / "dask-worker-1").is_dir()
    assert (_option(argv, "--tls-cert"), _option(argv, "--dashboard-address")) == (
        str(tls.cert),
        "127.0.0.1:0",
    )
    assert "--no-dashboard" in argv
    env = spec.env
    assert env["DRIFTLOOP_S3_SECRET_ACCESS_KEY"] == secrets.s3_secret_key  # tasks read the store by URI
    assert env["DRIFTLOOP_STORAGE_URL"] == settings.storage_url
    assert env["DRIFTLOOP_TRAIN_MAX_ROUNDS"] == "60"
    assert env["DASK_DISTRIBUTED__WORKER__HTTP__ROUTES"] == "[]"
    assert [name for name in env if name.startswith("DRIFTLOOP_DASK_")] == []
    assert spec.cwd == PROJECT_DIR
    assert env["PREFECT_HOME"] == str(settings.state / "prefect-worker")  # the flow runs' own
    assert (worker_index("dask-worker-1"), worker_index(SCHEDULER), worker_index("dask-worker-x")) == (
        1,
        None,
        None,
    )


def test_a_client_of_the_stack_and_the_worker_s_flow_runs_get_exactly_what_dask_settings_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, dask_workers=2, dask_scheduler_port=18786)
    secrets = StackSecrets.generate()
    client = ensure_certificates(settings.secrets / "tls").dask_client

    printed = client_env(settings, secrets)
    runs = prefect_worker_spec(settings, secrets, "driftloop", tmp_path / "worker.log").env
    for name, value in printed.items():
        monkeypatch.setenv(name, value)
    dask = DaskSettings()

    assert (dask.address, dask.tls_ca_file, dask.tls_cert_file, dask.tls_key_file) == (
        "tls://127.0.0.1:18786",
        str(client.ca),
        str(client.cert),
        str(client.key),
    )
    dask_names = {name for name in printed if name.startswith("DRIFTLOOP_DASK_")}
    assert {f"DRIFTLOOP_DASK_{field.upper()}" for field in DaskSettings.model_fields} - dask_names == {
        "DRIFTLOOP_DASK_CONNECT_TIMEOUT_SECONDS"  # the client's own choice, DaskSettings' default
    }
    assert {name: runs[name] for name in dask_names} == {name: printed[name] for name in dask_names}
    assert client.key.stat().st_mode & 0o777 == 0o600  # DaskSettings: readable by this user alone


def test_the_certificates_are_made_once_and_a_set_from_before_dask_is_made_again_whole(
    tmp_path: Path,
) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = tmp_path / "tls"
    made = ensure_certificates(folder)
    again = ensure_certificates(folder)
    legacy = {name: (folder / name).read_bytes() for name in ("ca.crt", "node.crt", "node.key")}
    for files in (made.dask, made.dask_client):
        files.cert.unlink()
        files.key.unlink()

    remade = ensure_certificates(folder)

    assert again == made
    assert all((folder / name).read_bytes() != content for name, content in legacy.items())
    ca = x509.load_pem_x509_certificate(remade.dask.ca.read_bytes())
    for files, usages in (
        (remade.seaweedfs, {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        (remade.dask, {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        (remade.dask_client, {ExtendedKeyUsageOID.CLIENT_AUTH}),  # it cannot pose as the scheduler
    ):
        leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
        leaf.verify_directly_issued_by(ca)
        assert set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == usages
        assert files.ca == remade.dask.ca
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {0o600}


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """The services a test launched; stopped with their children after it."""
    processes: list[psutil.Process] = []
    yield processes
    for process in reversed(processes):
        with contextlib.suppress(psutil.NoSuchProcess):
            stop(process, timeout=5)


def test_a_real_scheduler_and_worker_from_the_specs_answer_the_stack_s_client_certificate_only(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    from distributed import Client

    settings = _settings(tmp_path, dask_workers=1, dask_memory_limit="1GiB", dask_scheduler_port=free_port())
    secrets = load_or_create(settings.secrets)
    certificates = ensure_certificates(settings.secrets / "tls")
    stranger = ensure_certificates(tmp_path / "another-ca").dask_client
    logs = tmp_path / "logs"
    started.append(launch(scheduler_spec(settings, certificates.dask, logs / "s.log"), tmp_path / "s.pid"))
    started.append(
        launch(worker_spec(settings, secrets, certificates.dask, 0, logs / "w.log"), tmp_path / "w.pid")
    )
    deadline = time.monotonic() + 60
    workers = None
    while not workers and time.monotonic() < deadline:
        workers = cluster_workers(settings, certificates.dask_client)
        time.sleep(0.2)

    assert workers is not None, (logs / "s.log").read_text() + (logs / "w.log").read_text()
    (worker,) = workers.values()
    assert (worker.name, worker.threads, worker.memory_limit) == ("dask-worker-0", 1, 2**30)
    assert worker.address.startswith("tls://127.0.0.1:")
    with Client(
        settings.dask_address, security=client_security(certificates.dask_client), timeout=10
    ) as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
    # A certificate of another CA, or none: the scheduler ends the handshake.
    began = time.monotonic()
    assert cluster_workers(settings, TlsFiles(certificates.dask.ca, stranger.cert, stranger.key)) is None
    assert time.monotonic() - began < PROBE_TIMEOUT_SECONDS
    assert _without_certificate(settings.dask_scheduler_port) == "refused"


def _without_certificate(port: int) -> str:
    """How a TLS connection that presents no certificate ends: "refused" (an alert, or the connection
    closed in the handshake), or what it read."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"x")
            return f"read {tls.recv(1)!r}"
    except (ssl.SSLError, ConnectionError):
        return "refused"


def test_the_scheduler_starts_before_its_workers_and_workers_of_earlier_settings_stay_known(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, dask_workers=2)
    run = settings.state / "run"
    run.mkdir(parents=True)
    (run / "dask-worker-10.pid").write_text("{}")  # started when the stack had 11 workers

    order = Stack(settings, echo=lambda _: None).services()
    without_dask = Stack(_settings(tmp_path), echo=lambda _: None).services()

    assert order == [
        "postgres",
        "seaweedfs",
        "prefect-server",
        "dask-scheduler",
        "dask-worker-0",
        "dask-worker-1",
        "dask-worker-10",
        "worker",
    ]
    assert without_dask == ["postgres", "seaweedfs", "prefect-server", "dask-worker-10", "worker"]
