"""Retries are for transient I/O only: a deterministic error (broken contract, bad file) is not retried."""

from __future__ import annotations

from typing import Any

from driftloop.storage import StoreUnavailable

TRANSIENT = (StoreUnavailable, ConnectionError, TimeoutError)
RETRY_DELAYS = [1, 5]  # seconds: one quick retry for a blip, one slower for a restart


def transient_only(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only when the failure is one a second try can fix."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except BaseException:
        return False
    return False
