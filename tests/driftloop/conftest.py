"""Tiny contracts for the domain's unit tests: one builder, so no test copies a contract's boilerplate."""

from __future__ import annotations

from typing import Any

from driftloop.core.contract import Contract


def tiny_contract(
    columns: dict[str, dict[str, Any]],
    features: list[dict[str, Any]],
    joins: list[dict[str, Any]] | None = None,
    positive_above: float | None = 15,
    **extra: Any,
) -> Contract:
    """A contract named `tiny` on `time_hour` (New York) with label `late` = arr_delay > `positive_above`."""
    return Contract.model_validate(
        {
            "name": "tiny",
            "version": 1,
            "source": {"kind": "nycflights13", "table": "flights"},
            "time": {"column": "time_hour", "timezone": "America/New_York"},
            "target": {"name": "late", "column": "arr_delay", "positive_above": positive_above},
            "rows": {"min": 1},
            "columns": {
                "time_hour": {"type": "datetime"},
                "arr_delay": {"type": "float", "role": "target"},
                **columns,
            },
            "joins": joins or [],
            "features": features,
            **extra,
        }
    )
