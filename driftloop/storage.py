"""The artifact store: one small interface, chosen by URL (`file://…` or a plain path, `s3://…`).

Everything driftloop persists (data versions, quarantine, predictions, reports, the registry) goes
through `Storage`. Keys are `/`-separated relative paths. Writes are atomic: a reader sees the old
object or the new one, never half of one. Two conditional writes make the registry safe under races:
`if_absent=True` (create only) and `if_match=etag` (compare-and-swap).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (`if_absent`) or changed (`if_match`)."""


class ObjectNotFound(FileNotFoundError):
    """The key does not exist in the store."""


@runtime_checkable
class Storage(Protocol):
    """What the rest of driftloop may ask of an artifact store."""

    url: str

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        """Write atomically and return the new etag; raise `PreconditionFailed` if a condition fails."""
        ...

    def etag(self, key: str) -> str | None:
        """The object's current etag, or None if it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str:
        """A full address of `key` that a person can paste (file path or s3 URL)."""
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """A folder on disk. Atomic via write-to-temp + rename; conditions via a per-store lock file."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

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
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
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


def local_root(url: str) -> Path | None:
    """The folder a path or `file://` URL names; None for remote stores (`s3://…`)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path).expanduser().resolve()
    if parsed.scheme == "":
        return Path(url).expanduser().resolve()
    return None


def open_storage(url: str) -> Storage:
    """Open the store an URL names: a path or `file://` for a folder, `s3://bucket/prefix` for S3.

    Args:
        url: where the artifacts live.

    Returns:
        A `Storage`; S3 credentials and endpoint come from `S3Settings` (environment), never the URL.
    """
    root = local_root(url)
    if root is not None:
        return LocalStorage(root)
    if urlparse(url).scheme == "s3":
        from driftloop.s3 import S3Storage  # boto3 is imported only when S3 is used

        return S3Storage.from_url(url)
    raise ValueError(f"unsupported storage URL {url!r}: use a path, file://… or s3://…")
