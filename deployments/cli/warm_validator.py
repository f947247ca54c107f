"""A warm `driftloop validate`: Great Expectations imported once, by a process later validations reuse.

Great Expectations' import is 2.3 s of the 3.2 s a `validate` of a small file takes, and the verdict must
stay its own (the gate's, rule for rule). So the first `validate` runs as always and starts, beside itself,
a process that imports what validating needs and waits on a Unix socket. A later `validate` hands that
process its arguments, working folder, environment and standard streams; the process forks, and the child
runs the same command on them (and its umask): the same code, output and exit code, without the import.

Files in `.driftloop/validator/` (a folder only its owner may enter; the process also checks that a
caller's uid is its own):
- `socket`: where it listens;
- `validator.json`: its pid and create time, and every file it imported with its size and modification
  time: a command that finds one of them changed (an upgrade, an edit) stops it and validates in its own
  process, which starts a fresh one;
- `validator.lock`: held while a command finds or starts it, and by it while it stops;
- `validator.log`: its own output (a request's output goes to the caller's streams).

It stops after DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS (600) without a request. With 0, none is started.
`deployments.cli.warm_validator.main([HOME, IDLE_SECONDS])` is the process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployments.cli.locks import holding
from deployments.environment import ValidatorSettings
from deployments.errors import ExitCode

if TYPE_CHECKING:
    import psutil

SOCKET, STATE, LOCK, LOG = "socket", "validator.json", "validator.lock", "validator.log"
POLL_SECONDS = 1.0  # how often the waiting process looks at its idle clock
_HEADER = struct.Struct("!Q")  # a request's length, then the request (JSON)
_CODE = struct.Struct("!i")  # the child's pid, then its exit code
_STREAMS = 3  # stdin, stdout, stderr
# The process (not `-m`: the package imports this module before it would run as __main__).
_SERVE = "import sys; from deployments.cli.warm_validator import main; main(sys.argv[1:])"


def is_validate(argv: list[str]) -> bool:
    """The command line of a plain `validate` (no `--debug`, which wants this process's traceback)."""
    return argv[:1] == ["validate"] and "--help" not in argv


def run_warm(argv: list[str], settings: ValidatorSettings) -> int | None:
    """`driftloop argv` run by the warm validator with this process's streams; its exit code, or None when
    there is no warm validator to use (then the caller validates itself, see `start_beside`)."""
    if settings.idle_timeout_seconds == 0:
        return None
    home = Path(settings.home).resolve()
    with _locked(home):
        if not _current(home):
            return None
        try:
            connection = _connect(home)
        except OSError:
            return None
    with connection:
        umask = os.umask(0o077)
        os.umask(umask)
        caller = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask}
        request = json.dumps(caller).encode()
        try:
            socket.send_fds(connection, [_HEADER.pack(len(request)) + request], list(range(_STREAMS)))
            child = _receive_int(connection)
        except OSError:
            return None  # it stopped between the lock and the request: validate here
        try:
            return _receive_int(connection)
        except KeyboardInterrupt:  # Ctrl-C reaches this process: the child runs elsewhere, pass it on
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGINT)
            return _receive_int(connection)
        except OSError:
            return ExitCode.INTERNAL  # the child died without an exit code


def start_beside(settings: ValidatorSettings) -> int | None:
    """Start the warm validator in the background unless one runs (or the idle timeout is 0); its pid."""
    if settings.idle_timeout_seconds == 0:
        return None
    home = Path(settings.home).resolve()
    with _locked(home):
        if _current(home):
            return None
        with open(home / LOG, "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(home), str(settings.idle_timeout_seconds)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not in the terminal's process group: Ctrl-C leaves it be
            )
    return child.pid


def stop_warm_validator(settings: ValidatorSettings | None = None) -> bool:
    """Stop the warm validator now; True if one was running."""
    home = Path((settings or ValidatorSettings()).home).resolve()
    with _locked(home):
        process = _recorded(home)
        if process is None:
            return False
        _stop(home, process)
    return True


def _recorded(home: Path) -> psutil.Process | None:
    from deployments.stack.processes import recorded_process

    return recorded_process(home / STATE)


def _current(home: Path) -> bool:
    """A warm validator runs and imported the files this command would: usable. One that imported other
    files (the code changed since it started) is stopped."""
    process = _recorded(home)
    if process is None:
        return False
    try:
        imported = json.loads((home / STATE).read_text())["files"]
    except (OSError, ValueError, KeyError):
        imported = None
    if imported is not None and imported == _stat(list(imported)):
        return True
    _stop(home, process)
    return False


def _stop(home: Path, process: psutil.Process) -> None:
    from deployments.stack.processes import stop

    stop(process, timeout=5.0)
    with contextlib.suppress(FileNotFoundError):
        (home / STATE).unlink()


def _stat(paths: list[str]) -> dict[str, list[int]]:
    out = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            out[path] = [-1, -1]
            continue
        out[path] = [info.st_mtime_ns, info.st_size]
    return out


def _connect(home: Path) -> socket.socket:
    """Connect to `home/socket` by its name inside `home`: a Unix socket's path may not be longer than
    107 bytes, and `home` may be (a checkout in a deep folder)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(home)
    try:
        connection.connect(SOCKET)
    except OSError:
        connection.close()
        raise
    finally:
        os.chdir(here)
    return connection


def _receive_int(connection: socket.socket) -> int:
    data = b""
    while len(data) < _CODE.size:
        chunk = connection.recv(_CODE.size - len(data))
        if not chunk:
            raise ConnectionResetError("the warm validator closed the connection")
        data += chunk
    return int(_CODE.unpack(data)[0])


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # its socket and the callers' environments: its owner's alone
    with holding(home / LOCK):
        yield


# ---- the warm process -----------------------------------------------------------------------------------


def _import_what_validating_needs() -> None:
    from deployments.cli.app import main  # noqa: F401 - the command line itself
    from driftloop.core.contract import load_contract  # noqa: F401
    from driftloop.data.batches import cut_nonempty  # noqa: F401
    from driftloop.data.sources import read_table_file  # noqa: F401
    from driftloop.data.validation import runner

    runner._batch_definition()  # Great Expectations' ephemeral context, made once


def serve(home: Path, idle_timeout: float) -> None:
    """Listen on `home/socket` until idle; each request is run by a forked child with the caller's streams."""
    _import_what_validating_needs()
    os.chdir(home)  # the socket is bound by its name here (see `_connect`); a child moves to its caller's
    with _locked(home):
        if _recorded(home) is not None:
            return  # another command started one meanwhile
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(SOCKET)
        os.chmod(SOCKET, 0o600)
        listener.listen(16)
        _write_state(home)
    listener.settimeout(POLL_SECONDS)
    last, children = time.monotonic(), set()
    while True:
        children = {pid for pid in children if not _reaped(pid)}
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if children or time.monotonic() - last < idle_timeout:
                continue
            with _locked(home):
                if _forget(home):
                    return
            continue
        last = time.monotonic()
        with connection:
            if _peer_uid(connection) != os.getuid():
                continue
            try:
                request, streams = _receive_request(connection)
            except (OSError, ValueError):
                continue
            pid = os.fork()
            if pid == 0:  # the child: never returns
                listener.close()
                _run_request(connection, request, streams)
            children.add(pid)
            for fd in streams:
                os.close(fd)


def _write_state(home: Path) -> None:
    import psutil

    modules = list(sys.modules.values())
    files = sorted({module.__file__ for module in modules if getattr(module, "__file__", None)})
    record = {"pid": os.getpid(), "create_time": psutil.Process().create_time(), "files": _stat(files)}
    partial = home / f"{STATE}.partial"
    partial.write_text(json.dumps(record))
    partial.replace(home / STATE)


def _forget(home: Path) -> bool:
    """Take the record away if it names this process; True if it did (then stop)."""
    try:
        if json.loads((home / STATE).read_text())["pid"] != os.getpid():
            return True  # another one is recorded: this one is not used any more
    except (OSError, ValueError, KeyError):
        return True
    (home / STATE).unlink()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    return True


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", credentials)[1])


def _receive_request(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, streams, _, _ = socket.recv_fds(connection, _HEADER.size, _STREAMS)
    if len(head) != _HEADER.size or len(streams) != _STREAMS:
        for fd in streams:
            os.close(fd)
        raise ValueError("not a request")
    size, body = _HEADER.unpack(head)[0], b""
    while len(body) < size:
        chunk = connection.recv(min(size - len(body), 1 << 20))
        if not chunk:
            raise ConnectionResetError("the caller went away")
        body += chunk
    return json.loads(body), streams


def _run_request(connection: socket.socket, request: dict[str, Any], streams: list[int]) -> None:
    """In the forked child: become the caller's command (its folder, environment, streams), run it, answer
    its exit code, and end without the parent's exit handlers."""
    code = int(ExitCode.INTERNAL)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        connection.sendall(_CODE.pack(os.getpid()))
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the caller's, for the life of this child
        sys.stdout = open(1, "w", closefd=False, buffering=1 if os.isatty(1) else -1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        os.chdir(request["cwd"])
        os.umask(request["umask"])  # what it writes (a --json report) gets the caller's permissions
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["driftloop", *request["argv"]]
        from deployments.cli.app import main

        code = main(request["argv"])
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            connection.sendall(_CODE.pack(code))
        os._exit(code)


def main(argv: list[str]) -> None:  # pragma: no cover - started by `start_beside`, in its own process
    serve(Path(argv[0]), float(argv[1]))
