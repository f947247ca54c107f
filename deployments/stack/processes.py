"""Start, find and stop the stack's processes by the pid recorded at start, never by name.

A pid file holds the pid and the executable it ran; a pid that now belongs to another program (pids are
reused) is not ours, and is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from deployments.errors import InfrastructureError
from deployments.stack.settings import LOOPBACK

T = TypeVar("T")


class StackError(InfrastructureError):
    """A service of the stack cannot start or stop, or a declaration is wrong (exit code 5, one line)."""


class Launch(NamedTuple):
    """What to run for one service, and where its output goes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    user: str | None = None  # run as this account (PostgreSQL refuses root)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def require_free(port: int, what: str, setting: str) -> None:
    if not port_free(port):
        raise StackError(
            f"{what}: port {port} on {LOOPBACK} is taken by another process: stop it, or set {setting} "
            "to a free port"
        )


def alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as gone."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def executable(pid: int) -> str | None:
    """The program a process runs (its argv[0]); None when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def record(pid_file: Path, pid: int, argv0: str) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps({"pid": pid, "argv0": argv0, "started": time.time()}))


def recorded_pid(pid_file: Path) -> int | None:
    """The recorded pid if that process is alive and still runs the recorded program, else None."""
    try:
        entry = json.loads(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid, argv0 = int(entry["pid"]), str(entry["argv0"])
    return pid if alive(pid) and executable(pid) == argv0 else None


def as_account(user: str | None) -> dict[str, Any]:
    """`subprocess` options that run a child as `user` (its own group, no other); none for this account."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def launch(spec: Launch, pid_file: Path) -> int:
    """Start `spec` in its own session (so `down` can stop its children too) and record its pid."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log, "ab") as out:
        os.chmod(spec.log, 0o640)
        process = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **as_account(spec.user),
        )
    record(pid_file, process.pid, spec.argv[0])
    return process.pid


def stop(pid: int, timeout: float) -> None:
    """SIGTERM the process's group, SIGKILL it after `timeout`; returns once the process is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.2)


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, pid: int | None, log: Path) -> T:
    """Poll `probe` until it answers; a dead process or the time limit is one `StackError` line."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if pid is not None and not alive(pid):
            raise StackError(f"{what} exited during start-up: see {log}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not become healthy within {timeout:.0f} s: see {log}")
        time.sleep(0.5)
