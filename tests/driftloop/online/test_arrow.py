"""Arrow request bodies: the contract's rules column by column, with the JSON path's names and outcomes.

The cases are `test_schema.py`'s, generated from every shipped contract and the tiny one: real rows in
Arrow give exactly the typed columns their JSON gives, and each bad value is refused naming the same row,
field and rule as in JSON. A value of another type makes its whole Arrow column of that type: refused as
a problem of the column; a field left out is a column left out (`exists`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from driftloop.core.contract import Contract
from driftloop.online.arrow import ArrowChecker, read_stream
from driftloop.online.problems import RequestRefused, counted_field, refused
from driftloop.online.schema import record_columns, request_schema
from tests.driftloop.online.test_schema import ALL_CASES, CONTRACTS, MISSING, Case, _problems, good_rows

__all__ = ["good_rows"]  # the fixture, shared with test_schema.py

ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "datetime": pa.string(),
               "bool": pa.bool_()}  # fmt: skip


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema(
        [(name, ARROW_TYPES[spec.type]) for name, spec in contract.columns.items() if spec.role != "target"]
    )


def stream(table: pa.Table, **options: Any) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(**options)) as writer:
        writer.write_table(table, max_chunksize=max(1, table.num_rows // 2))  # two batches
    return sink.getvalue().to_pybytes()


def arrow_of(records: list[dict[str, Any]], contract: Contract) -> bytes:
    """Records as an Arrow IPC stream of the contract's columns, typed as the contract says."""
    return stream(pa.Table.from_pylist(records, schema=arrow_schema(contract)))


def checker(contract: Contract) -> ArrowChecker:
    return ArrowChecker(
        request_schema(contract, 1000), lambda times, coded=None: np.zeros(len(times), dtype=bool)
    )


def refusal(contract: Contract, table: pa.Table) -> RequestRefused:
    with pytest.raises(RequestRefused) as caught:
        checker(contract).columns(read_stream(stream(table), 1000))
    return caught.value


def same(left: np.ndarray, right: np.ndarray) -> bool:
    if left.dtype != right.dtype:
        return False
    if left.dtype.kind == "f":
        return left.tobytes() == right.tobytes()  # NaN where NaN, every bit the same
    return left.tolist() == right.tolist()


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_real_rows_become_the_columns_their_json_becomes(
    name: str, good_rows: dict[str, list[dict[str, Any]]]
) -> None:
    contract, rows = CONTRACTS[name], good_rows[name]
    table = pa.Table.from_pylist(rows, schema=arrow_schema(contract))

    columns, coded = checker(contract).columns(read_stream(stream(table), 1000))

    expected = record_columns(request_schema(contract, 1000), rows)
    assert list(columns) == list(expected)
    assert [field for field in expected if not same(columns[field], expected[field])] == []
    texts = [
        field
        for field, spec in contract.columns.items()
        if field in expected and spec.type in ("string", "datetime")
    ]
    assert sorted(coded) == sorted(texts)  # each text column factorized, for the lookups and features
    for field, (codes, uniques) in coded.items():  # the codes give back the column, None where null
        assert np.append(uniques, None)[codes].tolist() == expected[field].tolist()
        assert len(set(uniques.tolist())) == len(uniques) and None not in uniques.tolist()


def _accepted(case: Case, contract: Contract) -> bool:
    """Whether the bad value's own Arrow type is one the field takes (else the column's type is wrong)."""
    value, kind = case.value, contract.columns[case.field].type
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return True
    natural = pa.array([value]).type
    if kind == "float":
        return pa.types.is_floating(natural) or pa.types.is_integer(natural)
    accepts = {"int": pa.types.is_integer, "string": pa.types.is_string, "bool": pa.types.is_boolean}
    return accepts["string" if kind == "datetime" else kind](natural)


@pytest.mark.parametrize(("name", "case"), ALL_CASES, ids=[f"{n}-{c.id}" for n, c in ALL_CASES])
def test_each_rule_refuses_its_bad_value_as_the_json_path_does(
    name: str, case: Case, good_rows: dict[str, list[dict[str, Any]]]
) -> None:
    contract = CONTRACTS[name]
    good = good_rows[name][0]
    schema = arrow_schema(contract)
    declared = case.field in schema.names
    if case.value is MISSING:  # left out: the column is not there
        table = pa.Table.from_pylist([good, good], schema=schema).drop_columns([case.field])
        expected = [(None, case.field, "exists")]
    elif not declared:  # an undeclared column (the target, or no column of the contract)
        table = pa.Table.from_pylist([good, good], schema=schema).append_column(
            case.field, pa.array([case.value, case.value])
        )
        expected = [(None, case.field, "extra_columns")]
    elif _accepted(case, contract):  # a bad value in a column of a right type: the same row, field and rule
        table = pa.Table.from_pylist([good, {**good, case.field: case.value}], schema=schema)
        json_problems = _problems(contract, [good, {**good, case.field: case.value}])
        expected = [(p.record, p.field, p.rule) for p in json_problems]
        assert expected == [(1, case.field, case.rule)]
    else:  # a column of another type
        column = pa.array([case.value, case.value])
        table = pa.Table.from_pylist([good, good], schema=schema)
        table = table.set_column(schema.get_field_index(case.field), case.field, column)
        expected = [(None, case.field, "type")]

    refused = refusal(contract, table)

    assert [(p.record, p.field, p.rule) for p in refused.problems] == expected
    problem = refused.problems[0]
    where = ("body", "rows", 1, case.field) if problem.record is not None else ("body", "columns", case.field)
    assert problem.loc == where and case.field in problem.msg
    records = 1 if problem.record is not None else 2  # a whole column: both rows
    assert refused.tally == {(counted_field(case.field, contract), expected[0][2]): records}
    assert (refused.records, refused.kind) == (records, "invalid")


def test_every_bad_row_is_counted_and_the_first_twenty_listed() -> None:
    contract = CONTRACTS["flights"]
    rows = 30
    schema = arrow_schema(contract)
    table = pa.table(
        {
            **{name: pa.nulls(rows, kind) for name, kind in zip(schema.names, schema.types, strict=True)},
            "origin": pa.array(["BOS"] * 25 + ["EWR"] * 5),
            "distance": pa.array([100] * 27 + [99_999] * 3),
        }
    )

    refused = refusal(contract, table)

    assert refused.total == 25 + 3 + 30 * 11  # and 11 required columns entirely null
    assert len(refused.problems) == 20 and refused.records == 30
    assert refused.tally[("origin", "allowed")] == 25 and refused.tally[("distance", "range")] == 3
    assert refused.tally[("carrier", "max_null_fraction")] == 30
    assert [p.record for p in refused.problems] == sorted(p.record for p in refused.problems)  # by row


def test_a_body_that_is_not_a_plain_arrow_stream_is_refused_by_name() -> None:
    table = pa.table({"year": [2013]})
    not_arrow = pytest.raises(RequestRefused)
    with not_arrow as garbage:
        read_stream(b'{"records": []}', 10)
    with pytest.raises(RequestRefused) as compressed:
        read_stream(stream(table, compression="zstd"), 10)
    with pytest.raises(RequestRefused) as empty:
        read_stream(stream(table.slice(0, 0)), 10)
    with pytest.raises(RequestRefused) as many:
        read_stream(stream(pa.table({"year": [2013] * 11})), 10)

    assert garbage.value.problems[0].rule == "arrow" and garbage.value.kind == "invalid"
    assert compressed.value.problems[0].rule == "arrow" and "compression" in compressed.value.problems[0].msg
    assert empty.value.problems[0].rule == "min_records"
    assert many.value.kind == "too_large" and "DRIFTLOOP_SERVE_MAX_ARROW_ROWS" in many.value.problems[0].msg
    assert many.value.tally == {(None, "size"): 11}


def test_dictionary_columns_and_null_columns_read_as_their_values() -> None:
    contract = CONTRACTS["tiny"]
    rows = [{"time_hour": "2013/01/07", "flag": True, "score": 0.5, "level": 2, "code": "abc"}] * 3
    plain = pa.Table.from_pylist(rows, schema=arrow_schema(contract))
    encoded = plain.set_column(
        plain.schema.get_field_index("code"),
        "code",
        pa.chunked_array([pa.array(["abc"] * 3).dictionary_encode()]),
    ).set_column(plain.schema.get_field_index("level"), "level", pa.array([2, 2, 2], pa.uint8()))
    nulls = plain.set_column(plain.schema.get_field_index("code"), "code", pa.nulls(3))

    columns, coded = checker(contract).columns(read_stream(stream(encoded), 10))
    without, coded_without = checker(contract).columns(read_stream(stream(nulls), 10))

    assert columns["code"].tolist() == ["abc"] * 3 and columns["level"].dtype == np.int64
    assert without["code"].tolist() == [None] * 3  # an optional column: nulls allowed
    assert coded["code"][0].tolist() == [0, 0, 0] and coded["code"][1].tolist() == ["abc"]
    assert coded_without["code"][0].tolist() == [-1, -1, -1] and len(coded_without["code"][1]) == 0


def test_undeclared_names_are_counted_under_one_name_so_the_counts_stay_bounded() -> None:
    contract = CONTRACTS["tiny"]
    rows = [{"time_hour": "2013/01/07", "flag": True, "score": 0.5, "level": 2, "code": "abc"}] * 2
    table = pa.Table.from_pylist(rows, schema=arrow_schema(contract))
    for name in ("surprise", "another"):
        table = table.append_column(name, pa.array([1, 2]))
    schema = request_schema(contract, 10)
    with pytest.raises(ValidationError) as invalid:
        schema.adapter.validate_json(json.dumps({"records": [{**rows[0], "surprise": 1, "another": 2}]}))
    in_json = refused(invalid.value, schema)

    in_arrow = refusal(contract, table)

    assert [p.field for p in in_arrow.problems] == ["surprise", "another"]  # the answers name them
    assert {p.field for p in in_json.problems} == {"surprise", "another"}
    assert in_arrow.tally == {("(undeclared)", "extra_columns"): 2}  # the counts do not: one name
    assert in_json.tally == {("(undeclared)", "extra_columns"): 1}  # (records: 2 rows, 1 record)


def test_an_integer_beyond_two_to_the_53_in_a_float_column_is_its_nearest_float_as_in_json() -> None:
    contract = CONTRACTS["tiny"]
    rows = [{"time_hour": "2013/01/07", "flag": True, "score": 2**60 + 1, "level": 2, "code": "abc"}]
    schema = arrow_schema(contract)
    table = pa.Table.from_pylist([{**rows[0], "score": 0.0}], schema=schema)
    table = table.set_column(schema.get_field_index("score"), "score", pa.array([2**60 + 1], pa.int64()))

    columns, _ = checker(contract).columns(read_stream(stream(table), 10))

    assert same(columns["score"], record_columns(request_schema(contract, 10), rows)["score"])
