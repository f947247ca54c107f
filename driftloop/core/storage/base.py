"""The artifact store's interface: one small protocol that a folder and an S3 bucket both implement.

Keys are `/`-separated relative paths. Writes are atomic: a reader sees the old object or the new one,
never half of one. Two conditional writes make the registry safe under races: `if_absent=True` (create
only) and `if_match=etag` (compare-and-swap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (`if_absent`) or changed (`if_match`)."""


class ObjectNotFound(FileNotFoundError):
    """The key does not exist in the store."""


class StoreUnavailable(ConnectionError):
    """The store cannot be reached (network, endpoint, credentials); the message names the endpoint."""


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

    def spool(self, prefix: str) -> Path:
        """A new, empty local file to write a large object into before `put_file` (streamed, never held
        in memory); on the same disk as `prefix` when the store is a folder, so `put_file` is a rename."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Move a local file, written in full, to `key` atomically; `path` is gone afterwards."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str:
        """A full address of `key` that a person can paste (file path or s3 URL)."""
        ...

    def link(self, key: str, expires_seconds: int) -> str:
        """An address a browser opens: a file:// URL, or a presigned S3 URL valid `expires_seconds`."""
        ...


def read_if_exists(storage: Storage, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such key (a question, not an error)."""
    try:
        return storage.read_bytes(key)
    except ObjectNotFound:
        return None


def check_key(key: str) -> str:
    """Return `key` if it is a relative `/`-separated path with no empty, `.` or `..` part."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid storage key {key!r}")
    return key
