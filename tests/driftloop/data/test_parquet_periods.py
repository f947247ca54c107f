"""A Parquet source read by period gives exactly the rows an in-memory cut gives, found from statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftloop.core.contract import Contract, SourceSpec
from driftloop.core.times import period_of
from driftloop.data.batches import NoDataForPeriod, cut_period, periods_in
from driftloop.data.parquet_periods import ParquetPeriods
from driftloop.data.sources import SourceTables


@pytest.fixture(scope="module")
def months(flights_table: pd.DataFrame) -> pd.DataFrame:
    """Three winter months of real flights, the time column as UTC timestamps, in time order."""
    frame = flights_table.loc[flights_table["month"].isin([1, 2, 3])].copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).astype("datetime64[us, UTC]")
    return frame.sort_values("time_hour", kind="stable").reset_index(drop=True)


def _write(frame: pd.DataFrame, folder: Path, files: int = 2, row_group: int = 7_000) -> str:
    """The frame split over `files` files of small row groups (several straddle a month's edge)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(frame) // files)
    for index in range(files):
        part = frame.iloc[index * size : (index + 1) * size]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"part-{index}.parquet",
                       row_group_size=row_group)  # fmt: skip
    return str(folder / "*.parquet")


def _file_contract(contract: Contract, location: str, **changes: object) -> Contract:
    source = SourceSpec(kind="file", path=location)
    return contract.model_copy(update={"source": source, "joins": [], **changes})


def test_the_periods_and_each_period_are_those_of_the_whole_table(
    months: pd.DataFrame, flights_contract: Contract, tmp_path: Path
) -> None:
    contract = _file_contract(flights_contract, _write(months, tmp_path / "flights"))
    parquet = ParquetPeriods.open(contract, contract.source.path or "")
    assert parquet is not None

    labels = period_of(months, contract.time)  # months are cut in New York time, the files are in UTC
    assert parquet.periods() == periods_in(labels) == ["2013-01", "2013-02", "2013-03"]
    for period in parquet.periods():
        expected = cut_period(months, contract, period, labels)
        got = parquet.read(period)
        assert len(got) == len(expected) > 20_000
        pd.testing.assert_frame_equal(got, expected)  # same rows, same order, same types
        assert parquet.count(period) == len(expected)  # counted from the files, nothing loaded


def test_wall_clock_timestamps_are_cut_in_the_contracts_timezone(
    months: pd.DataFrame, flights_contract: Contract, tmp_path: Path
) -> None:
    local = months.copy()
    local["time_hour"] = local["time_hour"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    contract = _file_contract(flights_contract, _write(local, tmp_path / "naive", files=1))
    parquet = ParquetPeriods.open(contract, contract.source.path or "")
    assert parquet is not None and parquet.time_type.tz is None
    january = parquet.read("2013-01")
    assert len(january) == int((period_of(months, contract.time) == "2013-01").sum())
    assert january["time_hour"].min() == pd.Timestamp("2013-01-01 05:00")  # the first scheduled hour


def test_the_source_reads_by_period_and_says_what_it_holds(
    months: pd.DataFrame, flights_contract: Contract, tmp_path: Path
) -> None:
    contract = _file_contract(flights_contract, _write(months, tmp_path / "source"), extra_columns="drop")
    sources = SourceTables(contract)
    assert sources.by_period() is not None and sources.periods() == ["2013-01", "2013-02", "2013-03"]
    february = sources.read_period("2013-02")
    assert set(february.columns) <= set(contract.columns)  # only the declared columns were read
    with pytest.raises(NoDataForPeriod, match=r"no row in month 2013-07: it holds 2013-01\.\.2013-03"):
        sources.read_period("2013-07")
    assert sources._main is None  # never read whole


def test_text_times_and_csv_are_read_whole(
    months: pd.DataFrame, flights_contract: Contract, tmp_path: Path
) -> None:
    text = months.assign(time_hour=months["time_hour"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    contract = _file_contract(flights_contract, _write(text, tmp_path / "text", files=1))
    assert ParquetPeriods.open(contract, contract.source.path or "") is None
    csv = tmp_path / "flights.csv"
    text.iloc[:100].to_csv(csv, index=False)
    assert ParquetPeriods.open(_file_contract(flights_contract, str(csv)), str(csv)) is None
