"""The lock file a command holds while it finds or starts a background process of its folder (the local
Prefect server, the warm validator), and the process holds while it stops: never two, never a dying one."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def holding(lock_file: Path) -> Iterator[None]:
    """An exclusive lock on `lock_file` (made, with its folder, if need be) for the life of the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
