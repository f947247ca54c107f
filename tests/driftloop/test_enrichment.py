"""After the gate: the label from its column, left joins that never lose or duplicate a row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.contract import Contract
from driftloop.enrichment import enrich, labels
from tests.driftloop.conftest import tiny_contract as build

REFERENCE_JOINS = [
    {"table": "weather", "using": ["origin", "time_hour"], "columns": {"temp": "temp"}},
    {"table": "planes", "using": ["tailnum"], "columns": {"year": "plane_year", "seats": "seats"}},
]


def tiny_contract(positive_above: float | None = 15, joins: list[dict] | None = None) -> Contract:
    columns = {"origin": {"type": "string"}, "tailnum": {"type": "string"}, "year": {"type": "int"}}
    return build(
        columns,
        [{"name": "origin", "kind": "categorical"}],
        joins=REFERENCE_JOINS if joins is None else joins,
        positive_above=positive_above,
    )


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
