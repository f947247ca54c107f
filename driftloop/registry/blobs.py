"""Content-addressed, immutable blobs of one model: written once, SHA-256 checked on every read."""

from __future__ import annotations

import contextlib

from driftloop.core import layout
from driftloop.core.hashing import sha256_hex
from driftloop.core.storage import ObjectNotFound, PreconditionFailed, Storage
from driftloop.registry.integrity import RESTORE, IntegrityError


class BlobStore:
    """`registry/<model>/objects/<sha256>`."""

    def __init__(self, storage: Storage, model: str) -> None:
        self.storage = storage
        self.model = model

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its SHA-256."""
        digest = sha256_hex(data)
        key = layout.registry_blob(self.model, digest)
        if not self.storage.exists(key):
            # a concurrent writer may store the same bytes first: content-addressed, so identical
            with contextlib.suppress(PreconditionFailed):
                self.storage.write_bytes(key, data, if_absent=True)
        return digest

    def get(self, digest: str) -> bytes:
        """Read a blob and verify its SHA-256; raises `IntegrityError` on mismatch."""
        key = layout.registry_blob(self.model, digest)
        try:
            data = self.storage.read_bytes(key)
        except ObjectNotFound as missing:
            raise IntegrityError(
                f"{self.storage.uri(key)}: blob {digest} of {self.model} is missing: a version names it but "
                f"the store no longer holds it; {RESTORE}"
            ) from missing
        actual = sha256_hex(data)
        if actual != digest:
            raise IntegrityError(
                f"{self.storage.uri(key)}: blob {digest} of {self.model} is corrupt (its SHA-256 is now "
                f"{actual}); {RESTORE}"
            )
        return data
