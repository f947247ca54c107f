"""No listener of the stack reads or writes for anyone without its credentials: every port the stack's
processes listen on is on 127.0.0.1, and each one refuses a stranger (and a wrong password)."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.integration.conftest import StackHandle

pytestmark = pytest.mark.integration


def _listeners(pids: list[int]) -> set[int]:
    """Every TCP port in LISTEN state whose socket belongs to one of `pids` or their children."""
    family = set(pids)
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) in family:
            family.add(int(status.parent.name))
    inodes = set()
    for pid in family:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
                address, port = parts[1].split(":")
                assert address in ("0100007F", "00000000000000000000000001000000"), f"{parts[1]} not loopback"
                ports.add(int(port, 16))
    return ports


def _refuses_without_client_certificate(port: int) -> bool:
    """A TLS handshake without a client certificate fails, or the server answers no 2xx."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = tls.recv(64)
    except (ssl.SSLError, OSError):
        return True
    return not answer.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))


def _events_socket_answer(url: str, subprotocols: list[str] | None, first: dict[str, object]) -> str:
    """What the events websocket says to `first`: its reply's type, or how it refused."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, subprotocols=subprotocols, open_timeout=5, close_timeout=2) as events:
            events.send(json.dumps(first))
            return str(json.loads(events.recv(timeout=5)).get("type"))
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"
    except ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else '-'}"


def test_no_listener_of_the_stack_reads_or_writes_without_credentials(stack: StackHandle) -> None:
    pids = [json.loads(p.read_text())["pid"] for p in (stack.state / "state" / "run").glob("*.pid")]
    ports = _listeners(pids)
    env = stack.env
    prefect, s3 = int(env["DRIFTLOOP_STACK_PREFECT_PORT"]), int(env["DRIFTLOOP_STACK_S3_PORT"])
    postgres = int(env["DRIFTLOOP_STACK_POSTGRES_PORT"])
    assert {prefect, s3, postgres} <= ports
    api = f"http://127.0.0.1:{prefect}/api"
    # Prefect: reads and writes refused without the basic-auth string (and with a wrong one).
    assert httpx.post(f"{api}/flows/filter", json={}).status_code == 401
    assert httpx.post(f"{api}/flows/", json={"name": "intruder"}).status_code == 401
    assert httpx.post(f"{api}/flows/filter", json={}, auth=("driftloop", "wrong")).status_code == 401
    # Prefect's websockets (events in: an unauthenticated drift event would start a retrain).
    events = f"ws://127.0.0.1:{prefect}/api/events/in"
    intruder = {"event": "driftloop.drift.detected", "resource": {"prefect.resource.id": "driftloop.model.x"}}
    token = env["PREFECT_API_AUTH_STRING"]
    assert _events_socket_answer(events, None, intruder).startswith(("refused", "closed"))
    assert _events_socket_answer(events, ["prefect"], {"type": "auth", "token": "wrong"}) == "closed 1008"
    assert _events_socket_answer(events, ["prefect"], {"type": "auth", "token": token}) == "auth_success"
    # S3: anonymous list, read and write refused.
    bucket = env["DRIFTLOOP_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    assert httpx.get(f"http://127.0.0.1:{s3}/{bucket}").status_code == 403
    assert httpx.get(f"http://127.0.0.1:{s3}/{bucket}/store/anything").status_code == 403
    assert httpx.put(f"http://127.0.0.1:{s3}/{bucket}/intruder", content=b"x").status_code == 403

    # PostgreSQL: no password, no way in.
    async def login(password: str | None) -> str:
        try:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=postgres, user="driftloop", password=password, database="prefect"
            )
        except (asyncpg.PostgresError, OSError) as refused:
            return type(refused).__name__
        await connection.close()
        return "connected"

    assert asyncio.run(login(None)) != "connected"
    assert asyncio.run(login("wrong")) != "connected"
    # Every other listener (SeaweedFS master, volume, filer gRPC, S3 gRPC): plain HTTP gets no 2xx, and
    # TLS without the stack's client certificate is refused.
    internal = ports - {prefect, s3, postgres}
    assert len(internal) >= 5
    for port in sorted(internal):
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/", timeout=3).status_code
        except httpx.HTTPError:
            status = None
        assert status is None or status >= 400, f"port {port} answered plain HTTP with {status}"
        assert _refuses_without_client_certificate(port), f"port {port} accepted TLS without a certificate"
