"""Why a prediction request was refused, in the contract's words: the field, the record, the rule broken.

The validator's errors are read here, and only here, into `Problem` records that name the rule as the
batch gate names it (`type`, `range`, `pattern`, `allowed`, `exists`, `max_null_fraction`,
`extra_columns`), so one vocabulary describes a bad batch and a bad request. A refusal also counts, for
every (field, rule) it broke, the records that broke it (`RequestRefused.tally`): what the metrics and the
refusal log keep. The field is None for a problem of the body as a whole (malformed, too large).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import ValidationError

from driftloop.core.contract import ColumnSpec, Contract
from driftloop.core.records import Record
from driftloop.data.validation.suite import allowed_text, null_text, pattern_text, range_rule
from driftloop.online.schema import ONLINE_TYPE_TEXT, RequestSchema

MAX_PROBLEMS = 20  # problems listed in one response; the count says how many there were in all
_TYPE_ERRORS = frozenset(
    {"int_type", "int_from_float", "float_type", "string_type", "bool_type", "finite_number", "time_format"}
)
_GOT_LIMIT = 80  # characters of an offending value echoed back


class Problem(Record):
    """One broken rule of a request."""

    loc: tuple[str | int, ...]  # FastAPI's convention: ("body", "records", 3, "carrier")
    record: int | None  # index of the record in the request, None for the body itself
    field: str | None
    rule: str
    expected: str
    got: Any = None
    msg: str


Tally = dict[tuple[str | None, str], int]
"""(field, rule) -> how many records broke it; field None: the body as a whole (its count 0 when no record
could be read), `UNDECLARED`: any field the contract does not declare."""
UNDECLARED = "(undeclared)"  # the client names these: one name for all keeps the metrics' labels bounded


def counted_field(field: str, contract: Contract) -> str:
    """The field as a tally counts it: a declared one by name, any other as `UNDECLARED`."""
    return field if field in contract.columns else UNDECLARED


def tally_of(broken: Iterable[tuple[str | None, str, int | None]]) -> tuple[Tally, int]:
    """Count (field, rule, record) triples: distinct records per (field, rule), and distinct records in all.

    A record of None (a problem of the body) names the (field, rule) and counts no record.
    """
    records: dict[tuple[str | None, str], set[int]] = {}
    for field, rule, record in broken:
        seen = records.setdefault((field, rule), set())
        if record is not None:
            seen.add(record)
    every: set[int] = set().union(*records.values()) if records else set()
    return {key: len(seen) for key, seen in records.items()}, len(every)


class RequestRefused(Exception):
    """A request the service will not score: too large (`too_large`) or breaking the contract (`invalid`).

    `problems` lists up to `MAX_PROBLEMS` of the `total`; `tally` counts the records refused per (field,
    rule) over all of them, `records` the distinct records refused (0 when none could be read).
    """

    def __init__(
        self,
        kind: Literal["too_large", "invalid"],
        problems: list[Problem],
        total: int,
        tally: Tally | None = None,
        records: int | None = None,
    ) -> None:
        super().__init__("; ".join(problem.msg for problem in problems))
        self.kind = kind
        self.problems = problems
        self.total = total
        if tally is None:
            tally, counted = tally_of((p.field, p.rule, p.record) for p in problems)
            records = counted if records is None else records
        self.tally = tally
        self.records = records or 0

    def body(self) -> dict[str, Any]:
        return {
            "detail": [problem.model_dump(mode="json") for problem in self.problems],
            "problems": self.total,
        }


def too_large(what: str, limit: str, setting: str, records: int = 0) -> RequestRefused:
    """A 413: the body or its number of records is over the service's limit (`records`, when known)."""
    message = f"the request is too large: {what}, the limit is {limit} (setting {setting}); split it"
    problem = Problem(loc=("body",), record=None, field=None, rule="size", expected=limit, msg=message)
    return RequestRefused("too_large", [problem], 1, {(None, "size"): records}, records)


def refused(error: ValidationError, schema: RequestSchema) -> RequestRefused:
    """The validator's errors as problems naming the contract's fields and rules."""
    errors = error.errors(include_url=False)
    for item in errors:
        if item["type"] == "too_long" and tuple(item["loc"]) == ("records",):
            count = item.get("ctx", {}).get("actual_length", "more")
            return too_large(
                f"{count} records",
                f"{schema.max_records:,} records",
                "DRIFTLOOP_SERVE_MAX_RECORDS",
                count if isinstance(count, int) else 0,
            )
    problems = [_problem(item, schema.contract) for item in errors[:MAX_PROBLEMS]]
    tally, records = tally_of(_broken(errors, schema.contract))
    return RequestRefused("invalid", problems, len(errors), tally, records)


def _broken(errors: list[Any], contract: Contract) -> Iterable[tuple[str | None, str, int | None]]:
    """(field, rule, record) of every error, each rule worked out once per field, error type and null."""
    rules: dict[tuple[str, str, bool], str] = {}
    for item in errors:
        loc = tuple(item["loc"])
        if len(loc) == 3 and loc[0] == "records" and isinstance(loc[1], int) and isinstance(loc[2], str):
            key = (loc[2], item["type"], item.get("input") is None)
            if key not in rules:
                rules[key] = _field_rule(item, contract, loc[2], contract.columns.get(loc[2]))[0]
            yield counted_field(loc[2], contract), rules[key], loc[1]
        else:
            record = loc[1] if len(loc) >= 2 and isinstance(loc[1], int) else None
            yield None, _body_rule(item, loc)[0], record


def times_that_cannot_exist(
    contract: Contract, records: list[int], values: Any, where: str = "records"
) -> RequestRefused:
    """The refusal of `records` whose time (`values[record]`) has the time column's form but names no
    instant (2013-02-30, year 0, beyond pandas' 2262, a wall-clock time a DST change skips or repeats):
    never scored with silently missing calendar features. `where`: `records` (JSON) or `rows` (Arrow)."""
    expected = (
        "a time that exists: a real calendar date between the years 1677 and 2262, "
        f"not a wall-clock time that a DST change skips or repeats in {contract.time.timezone}"
    )
    problems = [
        record_problem(record, contract.time.column, "type", expected, shown(values[record]), where)
        for record in records[:MAX_PROBLEMS]
    ]
    column = contract.time.column
    return RequestRefused("invalid", problems, len(records), {(column, "type"): len(records)}, len(records))


def extra_text(contract: Contract, field: str) -> str:
    """What `extra_columns: refuse` expects instead of the undeclared `field` (the target named as such)."""
    if field == contract.target.column:
        return f"no {field!r}: it is the target the model predicts (role: target)"
    return "only the columns the contract declares (its extra_columns is refuse)"


def column_problem(field: str, rule: str, expected: str, got: Any = None) -> Problem:
    """A problem of a whole column of an Arrow body (every row breaks it): its type, present or not."""
    return _rule_problem(("body", "columns", field), None, f"column {field}", field, rule, expected, got)


def _rule_problem(
    loc: tuple[Any, ...], record: int | None, where: str, field: str, rule: str, expected: str, got: Any
) -> Problem:
    """A broken rule at `loc`; its message names `where` (a column, or a record's field), the value sent
    (when there is one) and what the rule expected."""
    shown_got = f" got {got!r}," if got is not None else ""
    return Problem(
        loc=loc,
        record=record,
        field=field,
        rule=rule,
        expected=expected,
        got=got,
        msg=f"{where}:{shown_got} breaks rule {rule!r}: expected {expected}",
    )


def _problem(item: dict[str, Any], contract: Contract) -> Problem:
    loc = tuple(item["loc"])
    if len(loc) == 3 and loc[0] == "records" and isinstance(loc[1], int) and isinstance(loc[2], str):
        return _field_problem(item, contract, loc[1], loc[2])
    rule, expected = _body_rule(item, loc)
    where = ".".join(str(part) for part in loc) or "body"
    record = loc[1] if len(loc) >= 2 and isinstance(loc[1], int) else None
    return Problem(
        loc=("body", *loc),
        record=record,
        field=None,
        rule=rule,
        expected=expected,
        msg=f"{where}: {expected} ({item['msg']})",
    )


def _body_rule(item: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, str]:
    kind = item["type"]
    if kind == "json_invalid":
        return "json", f"valid JSON: {item.get('ctx', {}).get('error', item['msg'])}"
    if kind == "too_short":
        return "min_records", "at least one record"
    if kind == "missing":
        return "exists", 'a "records" list'
    if kind == "extra_forbidden":
        return "extra_columns", 'only "records" in the body'
    if len(loc) == 2:
        return "type", "each record a JSON object of column: value"
    return "type", 'a JSON object {"records": [{column: value, ...}, ...]}'


def _field_problem(item: dict[str, Any], contract: Contract, record: int, field: str) -> Problem:
    spec = contract.columns.get(field)
    rule, expected = _field_rule(item, contract, field, spec)
    got = shown(item.get("input")) if rule not in ("exists", "max_null_fraction") else None
    return record_problem(record, field, rule, expected, got)


def record_problem(
    record: int, field: str, rule: str, expected: str, got: Any, where: str = "records"
) -> Problem:
    """One record's broken rule; `where` is `records` in a JSON body, `rows` in an Arrow one."""
    loc = ("body", where, record, field)
    return _rule_problem(loc, record, f"{where}[{record}].{field}", field, rule, expected, got)


def _field_rule(
    item: dict[str, Any], contract: Contract, field: str, spec: ColumnSpec | None
) -> tuple[str, str]:
    kind = item["type"]
    if kind == "extra_forbidden" or spec is None:
        return "extra_columns", extra_text(contract, field)
    if kind == "missing":
        return "exists", "present in every record"
    if item.get("input") is None and kind in _TYPE_ERRORS:
        return "max_null_fraction", null_text(spec)
    if kind == "time_format":
        return "type", f"a time written as {contract.time.format}"
    if kind in _TYPE_ERRORS or (kind == "string_pattern_mismatch" and spec.type == "datetime"):
        return "type", ONLINE_TYPE_TEXT[spec.type]
    if kind in ("greater_than_equal", "less_than_equal"):
        bounds = range_rule(spec)
        return bounds if bounds is not None else ("range", item["msg"])
    if kind == "string_pattern_mismatch":
        return "pattern", pattern_text(spec)
    if kind == "allowed":
        return "allowed", allowed_text(spec)
    return kind, item["msg"]


def shown(value: Any) -> Any:
    """The offending value, short: numbers and booleans as they are, long texts cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinity are not JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _GOT_LIMIT else text[: _GOT_LIMIT - 1] + "…"
