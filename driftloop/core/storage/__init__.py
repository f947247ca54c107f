"""The artifact store: one small interface, chosen by URL (`file://…` or a plain path, `s3://…`).

Everything driftloop persists (data versions, quarantine, predictions, reports, the registry) goes
through `Storage`; where each object lives is decided in `driftloop.core.layout`. Nothing outside
`driftloop/core/storage/s3.py` and `s3_errors.py` imports boto3, but for the stack's bucket set-up
(`deployments/stack/bucket.py`).
"""

from __future__ import annotations

from urllib.parse import urlparse

from driftloop.core.settings import S3Settings
from driftloop.core.storage.base import (
    ObjectNotFound,
    PreconditionFailed,
    Storage,
    StoreUnavailable,
    check_key,
    read_if_exists,
)
from driftloop.core.storage.local import LocalStorage, local_root
from driftloop.core.storage.observed import ObservedStorage

__all__ = [
    "LocalStorage",
    "ObjectNotFound",
    "ObservedStorage",
    "PreconditionFailed",
    "Storage",
    "StoreUnavailable",
    "check_key",
    "local_root",
    "open_storage",
    "read_if_exists",
]


def open_storage(url: str, s3: S3Settings | None = None) -> Storage:
    """Open the store an URL names: a path or `file://` for a folder, `s3://bucket/prefix` for S3.

    Args:
        url: where the artifacts live; it never carries credentials.
        s3: endpoint and credentials for `s3://` stores (read from `DRIFTLOOP_S3_*` by the caller).

    Returns:
        A `Storage`.
    """
    root = local_root(url)
    if root is not None:
        return LocalStorage(root)
    if urlparse(url).scheme == "s3":
        from driftloop.core.storage.s3 import S3Storage  # boto3 is imported only when S3 is used

        if s3 is None:
            raise ValueError(f"{url} is an S3 store: pass its S3Settings (DRIFTLOOP_S3_*)")
        return S3Storage.from_url(url, s3)
    raise ValueError(f"unsupported storage URL {url!r}: use a path, file://… or s3://…")
