"""The embedded default's Prefect server: started once on 127.0.0.1, reused by later commands, gone when idle.

Starting Prefect's server (its imports, the SQLite schema check, the block types) takes seconds, more than
a command whose work is already done. So the first flow verb starts one in the background, under
PREFECT_HOME, and later verbs use it. It stops by itself after `idle_timeout_seconds` without a request
(an open connection, such as a running flow's event stream, counts as a request until it closes):
nothing is left running for long after the last command.

Files in PREFECT_HOME:
- `server.json` (readable by its owner only): the server's pid and create time (`deployments.stack.processes`
  checks both, so a pid the kernel has given to another process is never taken for it), its API URL, its
  idle timeout and the credentials it asks of every request but its health check (a random basic-auth
  string: a long-lived API on 127.0.0.1 is open to every local process and to what a browser sends there);
- `server.lock`: held while a command finds or starts the server, and by the server while it stops,
  so a command never picks a server that is about to go;
- `server.log`: the server's output.

The command binds the listening socket on 127.0.0.1 itself and hands it to the server process, so the
port is known at once and nothing else can take it in between. `python -m deployments.cli.prefect_server
FD IDLE_SECONDS PARENT_PID` is the server process.

With an idle timeout of 0 the server is the command's alone: not recorded, stopped when the command ends,
and gone by itself within a second if the command is killed (`kill -9`), because it watches its parent.
It starts under the same lock, so two commands starting together in a fresh folder never race on the
SQLite schema.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.cli.locks import holding
from deployments.environment import NO_TELEMETRY, PrefectRuntimeSettings
from deployments.errors import InfrastructureError

if TYPE_CHECKING:
    import psutil
    import uvicorn

LOOPBACK = "127.0.0.1"
STATE, LOCK, LOG = "server.json", "server.lock", "server.log"
HEALTH_POLL_SECONDS = 0.05  # how often a command asks a starting server whether it answers
IDLE_POLL_SECONDS = 1.0  # how often the server looks at its idle clock
STOP_SECONDS = 10.0  # how long `stop_local_server` waits for a clean exit before SIGKILL
# The server never gets these: it needs no driftloop setting, and secrets stay out of a long-lived process.
PRIVATE_PREFIX = "DRIFTLOOP_"


@dataclass(frozen=True)
class LocalServer:
    """A running local server: its process and where its API answers."""

    process: psutil.Process
    api_url: str
    auth_string: str  # PREFECT_API_AUTH_STRING for its clients
    started: bool  # this command started it


def prefect_home() -> Path:
    """PREFECT_HOME, as `deployments.environment.prefect_environment` set it."""
    return Path(os.environ["PREFECT_HOME"])


def local_server(runtime: PrefectRuntimeSettings, home: Path | None = None) -> LocalServer:
    """The local server under `home` (default PREFECT_HOME), started now if none runs; answers when returned.

    Raises:
        InfrastructureError: it exited during start-up or did not answer within the start-up timeout.
    """
    home = home or prefect_home()
    with _locked(home):
        shared = runtime.idle_timeout_seconds > 0
        server = running_server(home) if shared else None
        if server is None:
            server = _start(home, runtime.idle_timeout_seconds)
        _wait_until_healthy(server, home, runtime.startup_timeout_seconds)
    return server


def running_server(home: Path) -> LocalServer | None:
    """The server `home/server.json` names while its process runs (pid and create time), else None."""
    from deployments.stack.processes import recorded_process

    state = home / STATE
    process = recorded_process(state)
    if process is None:
        return None
    try:
        record = json.loads(state.read_text())
        return LocalServer(
            process=process, api_url=record["api_url"], auth_string=record["auth_string"], started=False
        )
    except (OSError, ValueError, KeyError):  # gone meanwhile, or written by another version: not usable
        return None


def stop_local_server(home: Path | None = None, timeout: float = STOP_SECONDS) -> bool:
    """Stop the local server under `home` (default PREFECT_HOME) now; True if one was running."""
    from deployments.stack.processes import stop

    home = home or prefect_home()
    with _locked(home):
        server = running_server(home)
        if server is None:
            return False
        stop(server.process, timeout)
        with contextlib.suppress(FileNotFoundError):
            (home / STATE).unlink()
    return True


def _locked(home: Path) -> contextlib.AbstractContextManager[None]:
    return holding(home / LOCK)


def _start(home: Path, idle_timeout: int) -> LocalServer:
    """Bind 127.0.0.1 on a free port, start the server process on that socket; does not wait.

    A shared server (`idle_timeout` > 0) is recorded in `home/server.json` for later commands.
    """
    import psutil

    auth_string = f"driftloop:{secrets.token_urlsafe(24)}"
    env = {name: value for name, value in os.environ.items() if not name.startswith(PRIVATE_PREFIX)}
    env.pop("PREFECT_API_URL", None)
    for name, value in NO_TELEMETRY.items():
        env.setdefault(name, value)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_API_AUTH_STRING": auth_string,
            # What Prefect's own temporary server runs with: no UI, the services an ephemeral server needs.
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener, open(home / LOG, "ab") as log:
        listener.bind((LOOPBACK, 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        argv = [
            sys.executable,
            "-m",
            "deployments.cli.prefect_server",
            str(listener.fileno()),
            str(idle_timeout),
            str(os.getpid()),
        ]
        child = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
            start_new_session=True,  # not in the terminal's process group: Ctrl-C on a command leaves it be
        )
    process = psutil.Process(child.pid)  # an exited child stays a zombie until reaped: still readable
    server = LocalServer(
        process=process, api_url=f"http://{LOOPBACK}:{port}/api", auth_string=auth_string, started=True
    )
    if idle_timeout == 0:
        return server  # this command's alone
    record = {
        "pid": child.pid,
        "create_time": process.create_time(),
        "api_url": server.api_url,
        "idle_timeout_seconds": idle_timeout,
        "auth_string": auth_string,
    }
    partial = home / f"{STATE}.partial"
    partial.unlink(missing_ok=True)  # created anew below, readable by its owner only
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(json.dumps(record))
    partial.replace(home / STATE)
    return server


def _wait_until_healthy(server: LocalServer, home: Path, timeout: float) -> None:
    from deployments.stack.processes import running

    deadline = time.monotonic() + timeout
    while not _answers(server.api_url):
        if not running(server.process):
            raise InfrastructureError(
                f"the local Prefect server exited during start-up: see {home / LOG} "
                "(or point PREFECT_API_URL at a server of your own)"
            )
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"the local Prefect server (pid {server.process.pid}) did not answer at {server.api_url} "
                f"within {timeout:.0f} s: see {home / LOG} (DRIFTLOOP_PREFECT_STARTUP_TIMEOUT_SECONDS)"
            )
        time.sleep(HEALTH_POLL_SECONDS)


def _answers(api_url: str) -> bool:
    """True if the API's health endpoint says so. Straight to 127.0.0.1: no proxy from the environment."""
    port = int(api_url.rsplit(":", 1)[1].split("/", 1)[0])
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
    try:
        connection.request("GET", "/api/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


# ---- the server process ---------------------------------------------------------------------------------


class IdleClock:
    """ASGI middleware: how long the app has had no request in progress and no connection open."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0
        self.last = time.monotonic()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.last = time.monotonic()

    def idle_seconds(self) -> float:
        return 0.0 if self.open else time.monotonic() - self.last


def _stop_when_idle(server: uvicorn.Server, clock: IdleClock, home: Path, idle_timeout: float) -> None:
    """Stop `server` once `clock` has been idle for `idle_timeout`, taking its record away first.

    The record goes under the lock commands hold while they choose a server: a command either saw this
    server answer (which restarts the clock, so it is not stopped) or finds no record and starts another.
    """
    while not server.should_exit:
        time.sleep(IDLE_POLL_SECONDS)
        if clock.idle_seconds() < idle_timeout:
            continue
        with _locked(home):
            if clock.idle_seconds() < idle_timeout:
                continue
            _forget(home)
            server.should_exit = True


def _stop_with_parent(server: uvicorn.Server, parent: int) -> None:
    """Stop `server` once the command that started it is gone (killed, or ended without stopping it)."""
    while not server.should_exit:
        time.sleep(IDLE_POLL_SECONDS)
        if os.getppid() != parent:
            server.should_exit = True


def _forget(home: Path) -> None:
    """Remove `home/server.json` if it names this process."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if json.loads((home / STATE).read_text())["pid"] == os.getpid():
            (home / STATE).unlink()


def serve(fd: int, idle_timeout: float, home: Path, parent: int) -> None:
    """Run Prefect's API (as its temporary server does: no UI) on the socket `fd` until idle or signalled;
    with no idle timeout, until the command `parent` is gone."""
    import uvicorn
    from prefect.server.api.server import create_app

    clock = IdleClock(create_app(ephemeral=True, final=True))
    server = uvicorn.Server(uvicorn.Config(clock, log_level="error", lifespan="on"))
    if idle_timeout > 0:
        watch = threading.Thread(target=_stop_when_idle, args=(server, clock, home, idle_timeout))
    else:
        watch = threading.Thread(target=_stop_with_parent, args=(server, parent))
    watch.daemon = True
    watch.start()
    try:
        server.run(sockets=[socket.socket(fileno=fd)])
    finally:
        _forget(home)


if __name__ == "__main__":  # pragma: no cover - started by `_start`, in its own process
    serve(int(sys.argv[1]), float(sys.argv[2]), prefect_home(), int(sys.argv[3]))
