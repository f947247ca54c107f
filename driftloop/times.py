"""The contract's time column as tz-aware times in the contract's timezone."""

from __future__ import annotations

import numpy as np
import pandas as pd


def local_times(frame: pd.DataFrame, column: str, timezone: str) -> pd.Series:
    """The time column parsed and converted to `timezone` (unparseable -> NaT).

    Strings are ISO-8601; a string or datetime without an offset is read as UTC.
    """
    raw = frame[column]
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        # Timestamps repeat (one per scheduled hour): parse each distinct string once.
        codes, uniques = pd.factorize(raw)
        parsed = pd.to_datetime(pd.Series(uniques, dtype=object), utc=True, errors="coerce", format="ISO8601")
        # append one NaT so that code -1 (a missing value) indexes it instead of failing on an empty array
        lookup = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
        times = pd.to_datetime(pd.Series(lookup[codes], index=raw.index), utc=True)
    else:
        times = raw
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize("UTC")
    return times.dt.tz_convert(timezone)
