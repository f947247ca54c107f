"""The request schema, checked rule by rule with cases generated from each contract.

For every contract in data_contracts/ (and a tiny one with the types and rules they do not use), real
source rows must pass, and for every column and rule one bad value must be refused naming that record,
field and rule. The same bad values, put in a batch, must break the same rules at the batch gate: one
contract, the same rules online and in batch. A new contract file is covered without a new test.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from driftloop.core.contract import Contract, RowSpec, load_contract
from driftloop.data.sources import load_source_table
from driftloop.data.validation import validate_batch
from driftloop.data.validation.suite import range_rule
from driftloop.online.problems import refused
from driftloop.online.schema import optional, record_columns, request_schema
from tests.conftest import REPO
from tests.driftloop.conftest import tiny_contract

MISSING = object()  # "leave the field out"
SHIPPED = sorted((REPO / "data_contracts").glob("*.yaml"))
TINY_ROWS = [
    {"time_hour": "2013/01/07", "flag": True, "score": 0.5, "level": 2, "code": "abc"},
    {"time_hour": "2013/01/08", "flag": False, "score": 3, "level": 1, "code": None},
]


def tiny() -> Contract:
    """Types and rules the shipped contracts lack: bool, min only, max only, int allowed set, strftime."""
    return tiny_contract(
        {
            "flag": {"type": "bool"},
            "score": {"type": "float", "min": 0},
            "level": {"type": "int", "allowed": [1, 2, 3], "max": 9},
            "code": {"type": "string", "pattern": "^[a-z]+$", "max_null_fraction": 0.5},
        },
        [{"name": "score", "kind": "numeric"}],
        time={"column": "time_hour", "timezone": "UTC", "format": "%Y/%m/%d"},
    )


CONTRACTS: dict[str, Contract] = {path.stem: load_contract(path) for path in SHIPPED} | {"tiny": tiny()}


@dataclass(frozen=True)
class Case:
    field: str
    rule: str
    value: Any

    @property
    def id(self) -> str:
        shown = "missing" if self.value is MISSING else repr(self.value)
        return f"{self.field}-{self.rule}-{shown}"


_WRONG_TYPES: dict[str, list[Any]] = {
    "int": ["7", 7.5, True],
    "float": ["7", True, math.nan, math.inf, -math.inf],
    "string": [7, True],
    "bool": [1, "true"],
    "datetime": [7, "yesterday"],
}
_NOT_MATCHING = ["", "!", "~ ~", "0" * 300]


def bad_cases(contract: Contract) -> list[Case]:
    """One bad value per column and rule of the contract."""
    cases = [Case("not_a_column", "extra_columns", 1)] if contract.extra_columns == "refuse" else []
    for name, spec in contract.columns.items():
        if spec.role == "target":
            if contract.extra_columns == "refuse":
                cases.append(Case(name, "extra_columns", 1.0))
            continue
        if not optional(spec):
            cases += [Case(name, "exists", MISSING), Case(name, "max_null_fraction", None)]
        cases += [Case(name, "type", value) for value in _WRONG_TYPES[spec.type]]
        bounds = range_rule(spec)
        step = 1 if spec.type == "int" else 0.5
        number = int if spec.type == "int" else float
        if bounds is not None and spec.min is not None:
            cases.append(Case(name, bounds[0], number(spec.min - step)))
        if bounds is not None and spec.max is not None:
            cases.append(Case(name, bounds[0], number(spec.max + step)))
        if spec.pattern is not None:
            value = next(text for text in _NOT_MATCHING if not re.search(spec.pattern, text))
            cases.append(Case(name, "pattern", value))
        if spec.allowed is not None:
            outside = "~" + str(spec.allowed[0]) if spec.type == "string" else max(spec.allowed) + 1
            cases.append(Case(name, "allowed", outside))
    return cases


def json_record(row: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """A source row as a client sends it: declared columns but the target, nulls as null, ints as ints."""
    out = {}
    for name, spec in contract.columns.items():
        value = row[name]
        if spec.role == "target":
            continue
        if isinstance(value, float) and math.isnan(value):
            value = None
        elif spec.type == "int" and isinstance(value, float):
            value = int(value)
        out[name] = value
    return out


@pytest.fixture(scope="module")
def good_rows() -> dict[str, list[dict[str, Any]]]:
    """200 real rows of each shipped contract's source; the tiny contract's two hand-made rows."""
    rows = {"tiny": TINY_ROWS}
    for name, contract in CONTRACTS.items():
        if name != "tiny":
            table = load_source_table(contract).head(200).astype(object)
            rows[name] = [json_record(row, contract) for row in table.to_dict("records")]
    return rows


def _problems(contract: Contract, records: list[dict[str, Any]], max_records: int = 1000) -> list[Any]:
    schema = request_schema(contract, max_records)
    try:
        schema.adapter.validate_json(json.dumps({"records": records}))
    except ValidationError as error:
        return refused(error, schema).problems
    return []


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_real_rows_pass(name: str, good_rows: dict[str, list[dict[str, Any]]]) -> None:
    assert _problems(CONTRACTS[name], good_rows[name]) == []


ALL_CASES = [(name, case) for name, contract in CONTRACTS.items() for case in bad_cases(contract)]


@pytest.mark.parametrize(("name", "case"), ALL_CASES, ids=[f"{n}-{c.id}" for n, c in ALL_CASES])
def test_each_rule_refuses_its_bad_value_naming_record_field_and_rule(
    name: str, case: Case, good_rows: dict[str, list[dict[str, Any]]]
) -> None:
    contract = CONTRACTS[name]
    good = good_rows[name][0]
    bad = {key: value for key, value in good.items() if key != case.field}
    if case.value is not MISSING:
        bad[case.field] = case.value

    problems = _problems(contract, [good, bad])

    assert [(p.record, p.field, p.rule) for p in problems] == [(1, case.field, case.rule)]
    assert f"records[1].{case.field}" in problems[0].msg and case.rule in problems[0].msg
    assert problems[0].loc == ("body", "records", 1, case.field)


# One batch per family: the gate does not check the values of a column of the wrong type, and a null in
# an int column makes it float.
GATE_FAMILIES = {
    "values": {"range", "min", "max", "pattern", "allowed"},
    "nulls": {"max_null_fraction"},
    "types": {"type"},
}


@pytest.mark.parametrize("name", list(CONTRACTS))
@pytest.mark.parametrize("family", list(GATE_FAMILIES))
def test_the_batch_gate_breaks_the_same_rules_on_the_same_values(
    name: str, family: str, good_rows: dict[str, list[dict[str, Any]]]
) -> None:
    """A batch of the bad values: the gate names the same (column, rule) as the request schema does.

    NaN and infinity are left out: they are not JSON numbers (refused online as `type`), while a batch
    holds NaN as a null.
    """
    contract = CONTRACTS[name]
    cases = [
        case
        for case in bad_cases(contract)
        if case.rule in GATE_FAMILIES[family]
        and not (isinstance(case.value, float) and not math.isfinite(case.value))
    ]
    assert cases, "every contract has rules of every family"
    good = good_rows[name][0]
    rows = [good] + [{**good, case.field: case.value} for case in cases]
    batch = pd.DataFrame(rows, dtype=object).infer_objects()
    for column, spec in contract.columns.items():
        if spec.role == "target":
            batch[column] = 1.0  # batches carry the target
    loose = contract.model_copy(update={"rows": RowSpec(min=0), "unique_key": []})

    gate = {(failure.column, failure.rule) for failure in validate_batch(batch, loose).failures}

    assert {(case.field, case.rule) for case in cases} <= gate


def test_nan_and_infinity_are_refused_as_not_numbers() -> None:
    contract = CONTRACTS["flights"]
    body = '{"records": [%s]}'
    schema = request_schema(contract, 10)
    record = dict(zip(["year", "month"], [2013, 1], strict=True))
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        text = body % json.dumps({**record, "dep_time": "X"}).replace('"X"', literal)
        with pytest.raises(ValidationError) as error:
            schema.adapter.validate_json(text)
        problems = refused(error.value, schema).problems
        assert ("dep_time", "type") in {(p.field, p.rule) for p in problems}
        assert next(p for p in problems if p.field == "dep_time").expected.startswith("a finite number")


def test_the_target_is_refused_by_name_as_the_target(good_rows: dict[str, list[dict[str, Any]]]) -> None:
    problems = _problems(CONTRACTS["flights"], [{**good_rows["flights"][0], "arr_delay": 12.0}])
    assert [(p.field, p.rule) for p in problems] == [("arr_delay", "extra_columns")]
    assert "target" in problems[0].expected


@pytest.mark.parametrize(("extra", "kept"), [("drop", {}), ("keep", {"note": "hello"})])
def test_extra_fields_are_dropped_or_kept_as_the_contract_says(extra: str, kept: dict[str, Any]) -> None:
    contract = tiny().model_copy(update={"extra_columns": extra})
    schema = request_schema(contract, 10)

    records = schema.adapter.validate_json(json.dumps({"records": [{**TINY_ROWS[0], "note": "hello"}]}))[
        "records"
    ]

    assert [schema.extras(record) for record in records] == [kept]
    assert set(record_columns(schema, records)) == set(schema.fields)  # extras never reach the features


def test_optional_fields_may_be_null_or_left_out_and_leakage_is_optional() -> None:
    contract = CONTRACTS["flights"]
    schema = request_schema(contract, 10)
    assert "arr_delay" not in schema.fields  # the target is not a field
    leakage = [name for name, spec in contract.columns.items() if spec.role == "leakage"]
    assert leakage and all(optional(contract.columns[name]) for name in leakage)
    nullable = [name for name, spec in contract.columns.items() if spec.max_null_fraction > 0]
    assert "tailnum" in nullable and not optional(contract.columns["carrier"])


def test_envelope_problems_name_the_body(good_rows: dict[str, list[dict[str, Any]]]) -> None:
    schema = request_schema(CONTRACTS["flights"], max_records=2)
    cases = {
        '{"records": [': ("json", None),
        "[1, 2]": ("type", None),
        '{"records": []}': ("min_records", None),
        '{"rows": []}': ("exists", None),
        '{"records": [5]}': ("type", 0),
    }
    for body, (rule, record) in cases.items():
        with pytest.raises(ValidationError) as error:
            schema.adapter.validate_json(body)
        refusal = refused(error.value, schema)
        assert refusal.kind == "invalid"
        assert (refusal.problems[0].rule, refusal.problems[0].record) == (rule, record), body


def test_too_many_records_is_too_large_naming_the_setting(good_rows: dict[str, list[dict[str, Any]]]) -> None:
    schema = request_schema(CONTRACTS["flights"], max_records=2)
    with pytest.raises(ValidationError) as error:
        schema.adapter.validate_json(json.dumps({"records": good_rows["flights"][:3]}))
    refusal = refused(error.value, schema)
    assert refusal.kind == "too_large"
    assert "3 records" in refusal.problems[0].msg and "DRIFTLOOP_SERVE_MAX_RECORDS" in refusal.problems[0].msg


def test_a_thousand_bad_records_list_twenty_problems_and_count_all(
    good_rows: dict[str, list[dict[str, Any]]],
) -> None:
    bad = [{**good_rows["flights"][0], "origin": "XXX"}] * 1000
    schema = request_schema(CONTRACTS["flights"], max_records=1000)
    with pytest.raises(ValidationError) as error:
        schema.adapter.validate_json(json.dumps({"records": bad}))
    refusal = refused(error.value, schema)
    assert (len(refusal.problems), refusal.total) == (20, 1000)


def test_record_columns_are_typed_as_a_batch_holds_them(good_rows: dict[str, list[dict[str, Any]]]) -> None:
    schema = request_schema(CONTRACTS["flights"], 10)
    records = [good_rows["flights"][0], {**good_rows["flights"][1], "tailnum": None, "dep_time": None}]
    columns = record_columns(schema, records)
    assert columns["year"].dtype == "int64" and columns["dep_time"].dtype == "float64"
    assert columns["carrier"].dtype == object and columns["tailnum"][1] is None
    assert math.isnan(columns["dep_time"][1])


def test_the_generated_schema_documents_the_rules() -> None:
    schema = request_schema(CONTRACTS["flights"], 10).json_schema()
    record = schema["$defs"]["FlightsRecord"]
    assert record["additionalProperties"] is False
    assert record["properties"]["origin"]["enum"] == ["EWR", "JFK", "LGA"]
    assert (
        record["properties"]["year"]["minimum"] == 1990 and record["properties"]["year"]["type"] == "integer"
    )
    assert "arr_delay" not in record["properties"] and "carrier" in record["required"]
    assert schema["properties"]["records"]["maxItems"] == 10


def test_shipped_contracts_are_all_covered() -> None:
    assert {"flights", "rain-weekly", "seattle-quarterly"} <= set(CONTRACTS)
    assert all(bad_cases(contract) for contract in CONTRACTS.values())
    assert all(isinstance(path, Path) for path in SHIPPED)
