"""A store that counts and logs its reads, so "each batch is read once" is a number a test can check."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from driftloop.core.storage.base import Storage

logger = logging.getLogger("driftloop.core.storage")


class ObservedStorage:
    """Wraps any `Storage`: every `read_bytes` is counted per key and logged at DEBUG with its size."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.url = inner.url
        self.reads: Counter[str] = Counter()

    def reads_under(self, prefix: str) -> int:
        """How many reads hit keys starting with `prefix` since this store was opened."""
        return sum(count for key, count in self.reads.items() if key.startswith(prefix))

    def read_bytes(self, key: str) -> bytes:
        data = self.inner.read_bytes(key)
        self.reads[key] += 1
        logger.debug("read %s (%d bytes, read #%d of this key)", key, len(data), self.reads[key])
        return data

    def write_bytes(
        self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None
    ) -> str:
        return self.inner.write_bytes(key, data, if_absent=if_absent, if_match=if_match)

    def etag(self, key: str) -> str | None:
        return self.inner.etag(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def spool(self, prefix: str) -> Path:
        return self.inner.spool(prefix)

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(key, path)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def link(self, key: str, expires_seconds: int) -> str:
        return self.inner.link(key, expires_seconds)
