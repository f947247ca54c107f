"""What counts as a missing value, in one place: a key part that never joins, a level that is no category."""

from __future__ import annotations

from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """None, pandas' NA and NaT, and float NaN: the missing values a batch or a request can hold."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)
