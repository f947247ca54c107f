"""A prediction request's schema, generated from the data contract: the gate's rules, one record at a time.

Every column the contract declares is a field of a record, with the gate's rules: its type, its range,
its pattern and its allowed values, and no null unless the contract allows nulls in that column. Rules
about a whole batch (row counts, null shares, unique keys, the period) have no meaning for one request
and are not applied. Columns the model cannot know at prediction time are treated apart:
- the target (`role: target`) is not a field: a record that carries it is refused (or the value is
  dropped or kept, as `extra_columns` says for any undeclared column);
- columns known only after the event (`role: leakage`) are optional, and checked when they are sent.

Undeclared fields follow the contract's `extra_columns`: `refuse` (a 422 naming them), `drop` (ignored),
or `keep` (ignored by the model, kept in the prediction log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NotRequired, Required

import numpy as np
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from driftloop.core.contract import ColumnSpec, Contract
from driftloop.data.validation.suite import ISO_8601, allowed_text, pattern_text, range_rule

_TYPES: dict[str, Any] = {
    "int": StrictInt,
    "float": StrictFloat,
    "string": StrictStr,
    "bool": StrictBool,
    "datetime": StrictStr,
}
ONLINE_TYPE_TEXT = {
    "int": "an integer",
    "float": "a finite number (send null, not NaN, for a missing value)",
    "string": "a string",
    "bool": "true or false",
    "datetime": "an ISO-8601 time, e.g. 2013-01-01T10:00:00Z",
}
_EXTRA = {"refuse": "forbid", "drop": "ignore", "keep": "allow"}
_INT64 = (-(2**63), 2**63 - 1)  # an int column's values become int64 (`record_columns`), as in a batch


def _allowed(spec: ColumnSpec) -> AfterValidator:
    values = frozenset(spec.allowed or ())
    text = allowed_text(spec)

    def check(value: Any) -> Any:
        if value not in values:
            raise PydanticCustomError("allowed", "should be {expected}", {"expected": text})
        return value

    return AfterValidator(check)


def _strftime(fmt: str) -> AfterValidator:
    def check(value: str) -> str:
        try:
            datetime.strptime(value, fmt)
        except ValueError:
            raise PydanticCustomError(
                "time_format", "should be a time written as {format}", {"format": fmt}
            ) from None
        return value

    return AfterValidator(check)


def _bound(value: float, spec: ColumnSpec) -> float | int:
    return int(value) if spec.type == "int" and float(value).is_integer() else value


def _annotation(spec: ColumnSpec, time_format: str | None) -> Any:
    """The field's type with the contract's rules on it, in the gate's order: type, range, pattern, set."""
    constraints: dict[str, Any] = {}
    validators: list[Any] = []
    if spec.min is not None:
        constraints["ge"] = _bound(spec.min, spec)
    if spec.max is not None:
        constraints["le"] = _bound(spec.max, spec)
    if spec.type == "int":  # a wider integer would fail its conversion to int64 (a 500), not the request
        constraints["ge"] = max(constraints.get("ge", _INT64[0]), _INT64[0])
        constraints["le"] = min(constraints.get("le", _INT64[1]), _INT64[1])
    if spec.type == "datetime" and time_format is not None:
        validators.append(_strftime(time_format))
    elif spec.type == "datetime":
        constraints["pattern"] = ISO_8601
    if spec.pattern is not None:
        constraints["pattern"] = spec.pattern
    if spec.allowed is not None:
        validators.append(_allowed(spec))
        constraints["json_schema_extra"] = {"enum": list(spec.allowed)}
    return Annotated[
        _TYPES[spec.type], Field(description=describe(spec, time_format), **constraints), *validators
    ]


def describe(spec: ColumnSpec, time_format: str | None = None) -> str:
    """The field's rules as a sentence, for the API docs."""
    parts = [f"times written as {time_format}" if time_format else ONLINE_TYPE_TEXT[spec.type]]
    bounds = range_rule(spec)
    if bounds is not None:
        parts.append(bounds[1])
    if spec.pattern is not None:
        parts.append(pattern_text(spec))
    if spec.allowed is not None:
        parts.append(allowed_text(spec))
    if optional(spec):
        parts.append("null or left out when unknown")
    if spec.role == "leakage":
        parts.append("known only after the event: the model does not use it")
    return "; ".join(parts)


def optional(spec: ColumnSpec) -> bool:
    """A field that may be null or left out: the contract allows nulls, or it is known only afterwards."""
    return spec.max_null_fraction > 0 or spec.role == "leakage"


@dataclass(frozen=True)
class RequestSchema:
    """A contract's request body, `{"records": [...]}`, and the validator that enforces it.

    Build with `request_schema`; `adapter.validate_json(body)` returns the records as dicts.
    """

    contract: Contract
    fields: tuple[str, ...]  # the declared fields of a record, in the contract's order
    max_records: int
    adapter: TypeAdapter[Any]

    def json_schema(self) -> dict[str, Any]:
        """The body's JSON schema, for the OpenAPI docs."""
        return self.adapter.json_schema(ref_template="#/components/schemas/{model}")

    def extras(self, record: dict[str, Any]) -> dict[str, Any]:
        """A kept record's undeclared fields (`extra_columns: keep`)."""
        return {name: value for name, value in record.items() if name not in self._declared}

    @property
    def _declared(self) -> frozenset[str]:
        return frozenset(self.fields)


def _title(contract: Contract) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", contract.name) if part)


def request_schema(contract: Contract, max_records: int) -> RequestSchema:
    """Generate the request schema of `contract`: one field per declared column except the target.

    Args:
        contract: the data contract the model was trained under.
        max_records: the most records one request may carry.

    Returns:
        The schema; its validator refuses NaN and infinity, and checks patterns with Python's `re`
        (search, as the gate's pandas check does).
    """
    fields: dict[str, Any] = {}
    for name, spec in contract.columns.items():
        if spec.role == "target":
            continue
        annotation = _annotation(spec, contract.time.format if name == contract.time.column else None)
        fields[name] = NotRequired[annotation | None] if optional(spec) else Required[annotation]
    record = TypedDict(f"{_title(contract)}Record", fields)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra=_EXTRA[contract.extra_columns], strict=True, allow_inf_nan=False, regex_engine="python-re"
    )
    body = TypedDict(  # type: ignore[misc]  # noqa: UP013 - its field's type is made at run time
        f"{_title(contract)}Request",
        {"records": Annotated[list[record], Field(min_length=1, max_length=max_records)]},  # type: ignore[valid-type]
    )
    body.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
    return RequestSchema(
        contract=contract, fields=tuple(fields), max_records=max_records, adapter=TypeAdapter(body)
    )


def record_columns(schema: RequestSchema, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Validated records as columns typed the way a batch holds them, so both are featurized alike.

    An int column with a null is float64 (as pandas reads it from Parquet), strings are objects.
    """
    columns: dict[str, np.ndarray] = {}
    types = schema.contract.columns
    for name in schema.fields:
        values = [record.get(name) for record in records]
        kind = types[name].type
        nulls = None in values
        if kind == "float" or (kind == "int" and nulls):
            columns[name] = np.array(values, dtype=np.float64)
        elif kind == "int":
            columns[name] = np.array(values, dtype=np.int64)
        elif kind == "bool" and not nulls:
            columns[name] = np.array(values, dtype=bool)
        else:
            column = np.empty(len(values), dtype=object)
            column[:] = values
            columns[name] = column
    return columns
