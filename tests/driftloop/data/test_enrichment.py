"""After the gate: the label from its column, left joins that never lose or duplicate a row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.data.enrichment import SMALL_INPUT, ReferenceLookup, References, enrich, labels
from driftloop.data.sources import SourceTables
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


def test_labels_by_value_read_text_and_numbers_keeping_missing() -> None:
    target = tiny_contract(positive_above=None).target
    by_text = tiny_contract(positive_above=None).model_copy(
        update={"target": target.model_copy(update={"positive_value": "late"})}
    )
    by_number = tiny_contract(positive_above=None).model_copy(
        update={"target": target.model_copy(update={"positive_value": 3})}
    )
    texts = pd.DataFrame({"arr_delay": ["late", " late", "on time", None]})
    numbers = pd.DataFrame({"arr_delay": [3.0, 2.0, np.nan, 3.5]})

    np.testing.assert_array_equal(labels(texts, by_text).to_numpy(), [1.0, 1.0, 0.0, np.nan])
    np.testing.assert_array_equal(labels(numbers, by_number).to_numpy(), [1.0, 0.0, np.nan, 0.0])


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


# ---- the reference index: one lookup for batch and online ------------------------------------------


def _merge_oracle(batch: pd.DataFrame, contract: Contract, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The join as pandas spells it (what `enrich` did before the index): drop repeated keys, left merge."""
    out = batch
    for join in contract.joins:
        table = tables[join.table][[*join.using, *join.columns]].drop_duplicates(
            subset=join.using, keep="last"
        )
        out = out.merge(table.rename(columns=join.columns), on=join.using, how="left", validate="many_to_one")
    return out


def test_enrich_equals_the_pandas_merge_on_a_year_of_real_flights(
    flights_table: pd.DataFrame, flights_contract: Contract
) -> None:
    tables = SourceTables(flights_contract).references()
    shuffled = flights_table.sample(frac=1.0, random_state=7)  # any order, any index

    out = enrich(shuffled, flights_contract, tables)

    pd.testing.assert_frame_equal(out, _merge_oracle(shuffled, flights_contract, tables), check_exact=True)
    assert out["plane_year"].isna().any() and out["temp"].notna().mean() > 0.99


def test_a_key_with_a_missing_part_never_matches_even_a_missing_key(reference_tables: dict) -> None:
    planes = pd.concat(
        [reference_tables["planes"], pd.DataFrame({"tailnum": [None], "year": [1.0], "seats": [9]})]
    )
    references = References(tiny_contract(), {**reference_tables, "planes": planes})

    joined, misses = references.join(
        {"origin": ["EWR", None], "time_hour": ["2013-01-01T10:00:00Z"] * 2, "tailnum": [None, "N1"]}
    )

    np.testing.assert_array_equal(joined["seats"], [np.nan, 100.0])  # None matches no row, not the None row
    np.testing.assert_array_equal(joined["temp"], [30.0, np.nan])
    assert misses == {"weather": 1, "planes": 1}


def test_joined_int_columns_stay_int_without_a_miss(reference_tables: dict) -> None:
    references = References(tiny_contract(), reference_tables)

    hit, _ = references.join({"origin": ["EWR"], "time_hour": ["2013-01-01T10:00:00Z"], "tailnum": ["N1"]})
    miss, _ = references.join({"origin": ["EWR"], "time_hour": ["2013-01-01T10:00:00Z"], "tailnum": ["N9"]})

    assert hit["seats"].dtype == np.int64 and hit["seats"].tolist() == [100]
    assert miss["seats"].dtype == np.float64 and np.isnan(miss["seats"][0])
    assert list(hit) == ["temp", "plane_year", "seats"]  # the contract's order


def test_a_clash_with_an_input_column_is_refused_before_any_lookup(reference_tables: dict) -> None:
    with pytest.raises(ValueError, match=r"'planes' would overwrite batch columns \['seats'\]"):
        References(tiny_contract(), reference_tables).check(["origin", "seats"])


# ---- many rows at once: the same rows as one at a time ----------------------------------------------


def _in_small_requests(lookup: ReferenceLookup, keys: list[np.ndarray]) -> np.ndarray:
    """The rows as single-record requests find them (the dict of whole keys)."""
    return np.concatenate([lookup.rows([key[i : i + 1] for key in keys]) for i in range(len(keys[0]))])


@pytest.mark.parametrize("seed", range(5))
def test_many_rows_find_the_rows_one_row_at_a_time_finds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 400
    # A two-part key with repeated keys (the last wins), missing parts, an int part a request may send as a
    # float, and texts the table does not hold.
    table = pd.DataFrame(
        {
            "origin": rng.choice(np.array(["EWR", "JFK", "LGA", None], dtype=object), size),
            "year": rng.integers(0, 40, size),
            "temp": rng.normal(size=size),
        }
    )
    join = {"table": "weather", "using": ["origin", "year"], "columns": {"temp": "temp"}}
    lookup = References(tiny_contract(joins=[join]), {"weather": table}).lookups[0]
    wanted = 3 * SMALL_INPUT
    origin = rng.choice(np.array(["EWR", "JFK", "LGA", "SFO", None], dtype=object), wanted)
    year = rng.integers(0, 50, wanted).astype(object)
    year[rng.random(wanted) < 0.3] = 7.0  # a float equal to an int key part matches it
    year[rng.random(wanted) < 0.05] = np.nan  # a missing part matches nothing
    keys = [origin, year]

    one_at_a_time = _in_small_requests(lookup, keys)
    many = lookup.rows(keys)
    coded = lookup.rows(keys, [pd.factorize(origin), None])  # the texts factorized, as from Arrow

    assert many.tolist() == one_at_a_time.tolist() == coded.tolist()
    assert (many >= 0).sum() > wanted // 3 and (many < 0).sum() > 10  # hits and misses both tested
    found = many[many >= 0]
    last = table.drop_duplicates(["origin", "year"], keep="last").index
    assert set(found.tolist()) <= set(last.tolist())  # a repeated key answers with its last row


def test_a_request_of_many_rows_fills_its_misses_as_pandas_take_does(reference_tables: dict) -> None:
    references = References(tiny_contract(), reference_tables)
    count = SMALL_INPUT + 6
    tails = np.array(["N1", "N9"] * (count // 2), dtype=object)
    keys = {"origin": ["EWR"] * count, "time_hour": ["2013-01-01T10:00:00Z"] * count, "tailnum": tails}

    joined, misses = references.join(keys, {"tailnum": pd.factorize(tails)})

    assert misses == {"weather": 0, "planes": count // 2}
    assert joined["seats"].dtype == np.float64  # an int column with a miss becomes float, NaN for the miss
    assert joined["seats"][:4].tolist()[::2] == [100.0, 100.0] and np.isnan(joined["seats"][1::2]).all()
    assert joined["temp"].dtype == np.float64 and (joined["temp"] == 30.0).all()
