"""How every flow run keeps its result: it does not, and a failure's exception is written as JSON.

A flow's return value goes back to its caller in memory, so nothing is persisted. Prefect still writes the
exception of a failed flow run to the result storage (the store's `_prefect_results/` on a local store)
with the flow's serializer, pickle by default: JSON keeps the promise of no pickle in the store (the type
and message of the error, which `driftloop` prints anyway).
"""

from __future__ import annotations

from typing import Any

FLOW_RESULTS: dict[str, Any] = {"persist_result": False, "result_serializer": "json"}
