"""The stack knows its processes by pid and create time: a pid given to another process is not ours, and
`stop` ends a service with everything it started. Real processes, no mocks."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from deployments.stack.processes import Launch, launch, record, recorded_pid, recorded_process, running, stop

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# Leaves behind, through a child that exits at once, a grandchild that ignores SIGTERM (an ignored signal
# stays ignored across fork and exec) and prints its pid; then takes SIGTERM itself again.
ORPHAN_IGNORING_SIGTERM = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = "import subprocess, sys; print(subprocess.Popen(sys.argv[1:]).pid, flush=True)"
subprocess.run([sys.executable, "-c", grandchild, sys.executable, "-c", "import time; time.sleep(60)"])
signal.signal(signal.SIGTERM, signal.SIG_DFL)
time.sleep(60)
"""
OBEDIENT_CHILD = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
"""


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """The processes a test launched; whatever is left of them (and their children) is killed after it."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for member in (*process.children(recursive=True), process):
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()


def _launch(tmp_path: Path, argv: list[str], started: list[psutil.Process]) -> psutil.Process:
    process = launch(
        Launch("test", argv, dict(os.environ), tmp_path, tmp_path / "test.log"), tmp_path / "t.pid"
    )
    started.append(process)
    return process


def _until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Ask `condition` every 0.1 s until it holds; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def test_a_launched_process_is_recorded_with_its_create_time_and_is_ours(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    process = _launch(tmp_path, SLEEPER, started)

    entry = json.loads((tmp_path / "t.pid").read_text())
    assert entry == {"pid": process.pid, "create_time": psutil.Process(process.pid).create_time()}
    assert recorded_pid(tmp_path / "t.pid") == process.pid
    assert os.getsid(process.pid) == process.pid  # its own session: `stop` finds its whole group


def test_a_pid_now_held_by_another_process_of_the_same_program_is_not_ours(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """As when the recorded process exited and the kernel gave its pid to a newer one running the same
    command: the pid file names the newer one's pid with the recorded one's create time."""
    ready = [sys.executable, "-c", "print('ready', flush=True); import time; time.sleep(60)"]
    recorded = _launch(tmp_path, ready, started)
    log = tmp_path / "test.log"
    _until(lambda: "ready" in log.read_text(), "the first process has started")  # a later create time
    newer = psutil.Process(subprocess.Popen(ready, stdout=subprocess.DEVNULL).pid)
    started.append(newer)
    _until(newer.cmdline, "the newer process's command line")  # empty until its exec has completed
    pid_file = tmp_path / "t.pid"
    pid_file.write_text(json.dumps({**json.loads(pid_file.read_text()), "pid": newer.pid}))

    assert newer.cmdline() == recorded.cmdline() and newer.create_time() != recorded.create_time()
    assert recorded_pid(pid_file) is None
    assert recorded_pid(tmp_path / "missing.pid") is None
    assert running(newer)  # never signalled


def test_a_recorded_process_that_exited_is_not_ours_before_or_after_it_is_reaped(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    record(tmp_path / "t.pid", exited.pid)
    os.waitid(os.P_PID, exited.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie

    zombie = recorded_pid(tmp_path / "t.pid")
    exited.wait()

    assert zombie is None
    assert recorded_pid(tmp_path / "t.pid") is None


def test_a_pid_file_from_before_create_times_names_the_process_until_its_pid_is_reused(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    process = _launch(tmp_path, SLEEPER, started)
    _until(process.cmdline, "the process's command line")  # empty until its exec has completed
    legacy = {"pid": process.pid, "argv0": sys.executable, "started": time.time()}
    (tmp_path / "old.pid").write_text(json.dumps(legacy))
    # Written a minute before this process was created: the pid was someone else's then.
    reused = {**legacy, "started": process.create_time() - 60}
    (tmp_path / "reused.pid").write_text(json.dumps(reused))

    assert recorded_pid(tmp_path / "old.pid") == process.pid
    assert recorded_pid(tmp_path / "reused.pid") is None


def test_stop_ends_a_service_and_its_child_at_once_when_both_take_sigterm(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    process = _launch(tmp_path, [sys.executable, "-c", OBEDIENT_CHILD], started)
    _until(process.children, "the service starts its child")
    (child,) = process.children()
    began = time.monotonic()

    stop(process, timeout=20)

    assert time.monotonic() - began < 10
    assert not running(process) and not running(child)
    assert recorded_process(tmp_path / "t.pid") is None


def test_stop_kills_an_orphan_of_the_service_that_ignores_sigterm_once_the_timeout_has_passed(
    tmp_path: Path, started: list[psutil.Process]
) -> None:
    """The orphan is nobody's child in the service's family any more, but still in its process group."""
    process = _launch(tmp_path, [sys.executable, "-c", ORPHAN_IGNORING_SIGTERM], started)
    log = tmp_path / "test.log"
    _until(lambda: log.read_text().strip(), "the orphan's pid in the log")
    orphan = psutil.Process(int(log.read_text()))
    started.append(orphan)
    _until(lambda: not process.children(), "the orphan's parent exits")
    assert orphan not in process.children(recursive=True) and os.getpgid(orphan.pid) == process.pid
    began = time.monotonic()

    stop(process, timeout=1.5)

    took = time.monotonic() - began
    assert not running(process) and not running(orphan)
    assert 1.5 <= took < 10, took
