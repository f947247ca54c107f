"""A folder on disk as the artifact store: atomic via temp file + rename, conditions under a file lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from driftloop.core import faults
from driftloop.core.hashing import sha256_hex
from driftloop.core.processes import process_alive
from driftloop.core.storage.base import ObjectNotFound, PreconditionFailed, check_key

_FILE_MODE = 0o644
# A temporary file is named after the process that writes it (`.NAME.pHOST-PID.RANDOM.tmp`), so the next
# write into its folder can tell one left by a killed process (`kill -9`) from one being written now.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"^\..*\.p(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[^.]+\.tmp$")
_swept: set[Path] = set()


def _temp_file(folder: Path, name: str) -> tuple[int, str]:
    """A new temporary file in `folder` (mkstemp: 0600, never listed), after sweeping the folder once."""
    if folder not in _swept:
        sweep_leftovers(folder)
        _swept.add(folder)
    return tempfile.mkstemp(dir=folder, prefix=f".{name}.p{_HOST}-{os.getpid()}.", suffix=".tmp")


def sweep_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files in `folder` whose writer, a process of this host, is gone; returns them.

    A temporary file is never listed or read, so removing one a dead process left changes nothing else.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            match = _TEMP.match(entry.name)
            if match and match["host"] == _HOST and not process_alive(int(match["pid"])):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


class LocalStorage:
    """A folder on disk. Atomic via write-to-temp + rename; conditions via a per-store lock file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # One lock for all conditional writes: they are rare (registry pointers), so contention is nil.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as missing:
            raise ObjectNotFound(self.uri(key)) from missing

    def write_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        path = self._path(key)
        if not (if_absent or if_match is not None):
            self._replace(path, data)
            return sha256_hex(data)
        with self._locked():
            current = self.etag(key)
            if if_absent and current is not None:
                raise PreconditionFailed(f"{self.uri(key)} already exists")
            if if_match is not None and current != if_match:
                raise PreconditionFailed(f"{self.uri(key)} changed (etag {current} != {if_match})")
            self._replace(path, data)
        return sha256_hex(data)

    @staticmethod
    def _replace(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temp_file(path.parent, path.name)
        try:
            os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; artifacts are for the whole team to read
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            faults.reached("store.renaming", str(path))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def spool(self, prefix: str) -> Path:
        folder = self._path(prefix)
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = _temp_file(folder, "spool")  # hidden: never listed
        os.close(fd)
        return Path(name)

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(path, _FILE_MODE)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            if Path(path).parent == target.parent:
                os.replace(path, target)
            else:  # another disk: copy next to the target first, so the last step is still a rename
                self._replace_from(target, Path(path))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    @staticmethod
    def _replace_from(target: Path, source: Path) -> None:
        fd, tmp = _temp_file(target.parent, target.name)
        try:
            os.fchmod(fd, _FILE_MODE)
            with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
                shutil.copyfileobj(data, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def etag(self, key: str) -> str | None:
        path = self._path(key)
        try:
            return sha256_hex(path.read_bytes())
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        return sorted(keys)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def link(self, key: str, expires_seconds: int) -> str:
        return self._path(key).as_uri()


def local_root(url: str) -> Path | None:
    """The folder a path or `file://` URL names; None for remote stores (`s3://…`)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path).expanduser().resolve()
    if parsed.scheme == "":
        return Path(url).expanduser().resolve()
    return None
