"""What counts as a missing value, in one place: a key part that never joins, a level that is no category."""

from __future__ import annotations

from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """None, pandas' NA and NaT, and float NaN: the missing values a batch or a request can hold."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


Factorized = tuple[Any, Any]
"""A column as `pd.factorize` gives it: each value's code (an int array, -1 where missing) and the
distinct values the codes index (an array, none of them missing). A request's text columns come
factorized from Arrow, and the lookups and features read the codes instead of hashing the values again."""


class Codes(dict[Any, int]):
    """Values to their codes, -1 for a value it does not hold: `map(codes.__getitem__, values)` looks many up
    without a Python call per value (a generator with `dict.get` costs a third more)."""

    def __missing__(self, key: Any) -> int:
        return -1
