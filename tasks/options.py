"""How tasks behave, declared once: retries for transient I/O only, and one of two result policies.

A deterministic error (a broken contract, a bad file, a bug) is not retried: the same input would fail
the same way. Tasks that pass frames in memory keep no result; tasks whose result is a small record
(a data version, a registered model) cache it as JSON under a content-hash key.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from driftloop.core.storage import StoreUnavailable

TRANSIENT = (StoreUnavailable, ConnectionError, TimeoutError)


def transient_only(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only when the failure is one a second try can fix."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except BaseException:
        return False
    return False


# One quick retry for a blip, one slower for a restart.
RETRIES: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": transient_only}
IN_MEMORY: dict[str, Any] = {**RETRIES, "cache_policy": NO_CACHE, "persist_result": False}
CACHED_AS_JSON: dict[str, Any] = {**RETRIES, "result_serializer": "json", "persist_result": True}
