"""Start, find and stop the stack's processes by the pid recorded at start, never by name.

A pid file holds the pid and the process's create time. Once a process has exited, the kernel may give its
pid to another one, which has another create time: that process is not ours, and is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import psutil

from deployments.errors import InfrastructureError

T = TypeVar("T")
POLL_SECONDS = 0.2  # how often `stop` looks whether the processes it signalled are gone
HEALTH_POLL_SECONDS = 0.5  # how often `wait_until` asks a starting service's health probe
# A pid file from before create times were recorded was written this long, at most, after its process
# started (psutil's create times come from whole-second boot times).
LEGACY_RECORD_SLACK_SECONDS = 1.0


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


def running(process: psutil.Process) -> bool:
    """True while `process` runs: it has not exited, is no zombie, and its pid is not another's now."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def record(pid_file: Path, pid: int) -> psutil.Process:
    """Write `pid` and its process's create time to `pid_file`; returns the process.

    Raises:
        psutil.NoSuchProcess: the process is gone already.
    """
    process = psutil.Process(pid)
    entry = {"pid": pid, "create_time": process.create_time()}
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(json.dumps(entry))
    return process


def _is_recorded(process: psutil.Process, entry: dict[str, Any]) -> bool:
    if "create_time" in entry:
        return process.create_time() == float(entry["create_time"])
    # Written before create times were: its program, and when the file was written, after the process
    # started; a process given that pid since then was created later.
    started = float(entry["started"]) + LEGACY_RECORD_SLACK_SECONDS
    return process.cmdline()[:1] == [entry["argv0"]] and process.create_time() <= started


def recorded_process(pid_file: Path) -> psutil.Process | None:
    """The process `pid_file` names while it runs (its pid, with the recorded create time), else None."""
    try:
        entry = json.loads(pid_file.read_text())
        process = psutil.Process(int(entry["pid"]))
        ours = _is_recorded(process, entry)
    except (FileNotFoundError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return process if ours and running(process) else None


def recorded_pid(pid_file: Path) -> int | None:
    """The pid of the process `pid_file` names while it runs, else None."""
    process = recorded_process(pid_file)
    return None if process is None else process.pid


def as_account(user: str | None) -> dict[str, Any]:
    """`subprocess` options that run a child as `user` (its own group, no other); none for this account."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def launch(spec: Launch, pid_file: Path) -> psutil.Process:
    """Start `spec` in its own session (so `stop` finds its whole group) and record it."""
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
    return record(pid_file, process.pid)  # an exited child stays a zombie until reaped: still readable


def _family(process: psutil.Process) -> list[psutil.Process]:
    """`process`, its descendants and the rest of the process group it leads (a child whose parent has
    exited is nobody's descendant any more, but stays in the group)."""
    try:
        family = {process, *process.children(recursive=True)}
        leader = os.getpgid(process.pid) == process.pid
    except (psutil.Error, ProcessLookupError):
        return [process]
    if leader:
        for other in psutil.process_iter():
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(other.pid) == process.pid:
                    family.add(other)
    return list(family)


def _still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` for `processes` to exit; returns those that did not.

    A zombie counts as gone: `psutil.wait_procs` alone would wait for it to be reaped, which never
    happens under an init that does not reap orphans (some containers' PID 1).
    """
    deadline = time.monotonic() + timeout
    left = [member for member in processes if running(member)]
    while left and time.monotonic() < deadline:
        # Returns early once all are gone, and reaps those that are children of this process.
        psutil.wait_procs(left, timeout=min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        left = [member for member in left if running(member)]
    return left


def stop(process: psutil.Process, timeout: float) -> None:
    """SIGTERM `process`, its descendants and its group, SIGKILL what is left after `timeout`; returns
    once all of them are gone (or `timeout` after the SIGKILL)."""
    family = _family(process)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            member.terminate()
    for member in _still_running(family, timeout):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            member.kill()
    _still_running(family, timeout)


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float, process: psutil.Process | None, log: Path
) -> T:
    """Poll `probe` until it answers; `process` exiting or the time limit is one `StackError` line."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None:
            return answer
        if process is not None and not running(process):
            raise StackError(f"{what} exited during start-up: see {log}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not become healthy within {timeout:.0f} s: see {log}")
        time.sleep(HEALTH_POLL_SECONDS)
