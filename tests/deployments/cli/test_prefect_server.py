"""The embedded default's local Prefect server: on 127.0.0.1, found and reused, gone when idle, no orphan.

Each test that starts one stops it in its fixture, whatever happens; the directory's `conftest.py` fails any
test that leaves one under the session's PREFECT_HOME.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from deployments.cli.prefect_server import (
    LOG,
    STATE,
    IdleClock,
    local_server,
    running_server,
    stop_local_server,
)
from deployments.environment import PrefectRuntimeSettings

STARTUP = 300  # generous: a first start on a fresh SQLite database, on two busy cores


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One PREFECT_HOME for the module's servers (one database); whatever runs there is stopped at the end."""
    path = tmp_path_factory.mktemp("prefect-home")
    try:
        yield path
    finally:
        stop_local_server(path)


def status(api_url: str, path: str, auth_string: str | None = None) -> int:
    """The HTTP status of POST `path` (an empty filter) on the API, with basic auth when given."""
    headers = (
        {"Authorization": f"Basic {base64.b64encode(auth_string.encode()).decode()}"} if auth_string else {}
    )
    return httpx.post(f"{api_url}{path}", json={}, headers=headers, timeout=30, trust_env=False).status_code


def gone(process: psutil.Process, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


def test_a_server_is_started_once_on_loopback_and_reused(home: Path) -> None:
    """Two commands at once start one server between them; a later one finds it."""
    runtime = PrefectRuntimeSettings(idle_timeout_seconds=600, startup_timeout_seconds=STARTUP)

    with ThreadPoolExecutor(2) as commands:
        together = list(commands.map(lambda _: local_server(runtime, home), range(2)))
    later = local_server(runtime, home)

    assert sorted(server.started for server in together) == [False, True] and not later.started
    assert len({server.process.pid for server in (*together, later)}) == 1
    assert len({server.api_url for server in (*together, later)}) == 1
    first = next(server for server in together if server.started)
    listening = {c.laddr for c in first.process.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    assert [address.ip for address in listening] == ["127.0.0.1"]
    assert first.api_url == f"http://127.0.0.1:{next(iter(listening)).port}/api"
    state = json.loads((home / STATE).read_text())
    assert (home / STATE).stat().st_mode & 0o777 == 0o600  # it holds the server's credentials
    assert status(first.api_url, "/flows/filter") == 401  # a request without them is refused
    assert status(first.api_url, "/flows/filter", first.auth_string) == 200
    assert (state["pid"], state["api_url"], state["idle_timeout_seconds"]) == (
        first.process.pid,
        first.api_url,
        600,
    )

    assert stop_local_server(home) is True
    assert gone(first.process, within=30) and not (home / STATE).exists()
    assert stop_local_server(home) is False  # nothing left to stop


def test_commands_with_servers_of_their_own_start_together_in_a_fresh_folder(tmp_path: Path) -> None:
    """Issue 19, finding 6: with DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS=0 each command ran Prefect's
    temporary server; two starting together in a fresh folder raced on the SQLite schema ("duplicate
    column name") and printed 175 lines of traceback. Each now starts under the folder's lock, the second
    once the first has the schema in place; neither is recorded for later commands."""
    from deployments.stack.processes import stop

    runtime = PrefectRuntimeSettings(idle_timeout_seconds=0, startup_timeout_seconds=STARTUP)
    with ThreadPoolExecutor(2) as commands:
        servers = list(commands.map(lambda _: local_server(runtime, tmp_path), range(2)))
    try:
        assert [server.started for server in servers] == [True, True]
        assert len({server.process.pid for server in servers}) == 2
        assert not (tmp_path / STATE).exists()  # theirs alone: a later command starts its own
        assert [status(s.api_url, "/flows/filter", s.auth_string) for s in servers] == [200, 200]
        assert "Traceback" not in (tmp_path / LOG).read_text()
    finally:
        for server in servers:
            stop(server.process, 10)


def test_the_server_stops_by_itself_when_idle(home: Path) -> None:
    server = local_server(
        PrefectRuntimeSettings(idle_timeout_seconds=2, startup_timeout_seconds=STARTUP), home
    )

    assert gone(server.process, within=120), "the idle server did not stop by itself"
    assert not (home / STATE).exists()  # the next command will not look for it
    assert running_server(home) is None


def test_a_record_of_a_process_that_is_not_the_server_is_ignored(tmp_path: Path) -> None:
    """A pid the kernel has given to another process since (here: this test's own) is not the server."""
    me = psutil.Process(os.getpid())
    state = {
        "pid": me.pid,
        "create_time": me.create_time() + 1.0,
        "api_url": "http://127.0.0.1:1/api",
        "auth_string": "a:b",
    }
    (tmp_path / STATE).write_text(json.dumps(state))

    assert running_server(tmp_path) is None
    assert stop_local_server(tmp_path) is False and me.is_running()


def test_the_idle_clock_counts_open_connections_as_activity() -> None:
    seen: list[float] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(clock.idle_seconds())

    clock = IdleClock(app)
    clock.last -= 100  # as if the last request ended 100 s ago
    assert clock.idle_seconds() >= 100
    asyncio.run(clock({"type": "websocket"}, None, None))

    assert seen == [0.0]  # busy while the connection is open
    assert clock.open == 0 and clock.idle_seconds() < 100  # the clock restarts when it closes
    asyncio.run(clock({"type": "lifespan"}, None, None))
    assert clock.open == 0


def test_connect_prefect_leaves_a_configured_api_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PREFECT_API_URL set (the stack, a server of your own): no local server is looked for or started."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.cli import options

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}), options.Command.resources:
        options.connect_prefect()
        assert PREFECT_API_URL.value() == "http://127.0.0.1:9/api"
    assert not (tmp_path / STATE).exists()
