"""Who is registering which model bytes: one create-only claim per model SHA-256, taken over when abandoned.

The claim makes two writers of identical bytes (a retried task racing its first attempt, two runs of the
same training) commit one version. A writer that fails releases its claim; one that cannot (the store went
down mid-registration, the process was killed) leaves it behind, and the next writer must not wait for it
forever. A claim names its host and process, so it is abandoned when that process is gone (same host), when
it is this process's own claim from an attempt that already failed, or when it is older than the time limit
(a writer on another host, which nothing here can ask). Taking one over is a compare-and-swap, so two
writers that both find it abandoned cannot both proceed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pandas as pd

from driftloop.core.clock import now_utc
from driftloop.core.processes import process_alive
from driftloop.core.storage import PreconditionFailed, Storage, read_if_exists
from driftloop.registry.records import RegistrationClaim

Committed = TypeVar("Committed")
POLL_SECONDS = 0.05
# Claims this process holds right now (by full address): another thread's live claim is not abandoned.
_HELD: set[str] = set()
_DECIDING = threading.Lock()


def _mine() -> RegistrationClaim:
    return RegistrationClaim(at=now_utc(), host=socket.gethostname(), pid=os.getpid())


def abandoned(claim: RegistrationClaim, address: str, timeout_seconds: float) -> bool:
    """True when nobody will finish the registration `claim` stands for."""
    age = pd.Timestamp.now(tz="UTC") - pd.Timestamp(claim.at)
    if age > pd.Timedelta(seconds=timeout_seconds):
        return True
    if claim.pid is None or claim.host != socket.gethostname():
        return False  # another machine's writer (or an older claim): only the time limit tells
    if claim.pid == os.getpid():
        return address not in _HELD  # ours, from an attempt that failed
    return not process_alive(claim.pid)


def take(
    storage: Storage, key: str, timeout_seconds: float, committed: Callable[[], Committed | None]
) -> Committed | None:
    """Hold the claim at `key`, or return what `committed()` finds once another writer has finished.

    Returns None when this process now holds the claim and must register; `release` it afterwards.
    """
    address = storage.uri(key)
    while True:
        done = committed()
        if done is not None:
            return done
        with _DECIDING:  # threads of this process decide one at a time; processes race through the store
            if _acquired(storage, key, address, timeout_seconds):
                _HELD.add(address)
                done = committed()  # an abandoned writer may have committed before it stopped
                if done is not None:
                    _HELD.discard(address)
                return done
        time.sleep(POLL_SECONDS)


def _acquired(storage: Storage, key: str, address: str, timeout_seconds: float) -> bool:
    """Create the claim, or take an abandoned one over by compare-and-swap; False when someone holds it."""
    mine = _mine().to_json().encode()
    try:
        storage.write_bytes(key, mine, if_absent=True)
        return True
    except PreconditionFailed:
        pass
    etag = storage.etag(key)
    data = read_if_exists(storage, key)
    if etag is None or data is None:
        return False  # released meanwhile: the next round creates it
    if not abandoned(RegistrationClaim.from_json(data), address, timeout_seconds):
        return False
    try:
        storage.write_bytes(key, mine, if_match=etag)
    except PreconditionFailed:
        return False  # another writer took it over first
    return True


def release(storage: Storage, key: str, *, delete: bool) -> None:
    """Stop holding the claim; `delete` it when the registration failed, so the next writer need not wait.

    A delete that fails (the store is down: often why the registration failed) leaves the claim behind,
    which `abandoned` recognises; the original error is what the caller re-raises.
    """
    _HELD.discard(storage.uri(key))
    if delete:
        with contextlib.suppress(Exception):
            storage.delete(key)
