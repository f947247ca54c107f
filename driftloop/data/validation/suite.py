"""Compile a data contract into a Great Expectations 1.x suite: one expectation per contract rule.

Every expectation carries `meta` naming the contract column and rule it checks, so results are mapped
back by meaning, never by position. GX is imported inside the functions (it takes seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftloop.core.contract import ColumnSpec, ColumnType, Contract

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations import Expectation

META_KEY = "driftloop"  # expectation.meta[META_KEY] = {"column": ..., "rule": ..., "expected": ...}

# Type names as `ExpectColumnValuesToBeInTypeList` resolves them for pandas: numpy dtype names, pandas
# extension dtype classes (`Int64Dtype`), and Python names (`int`, `str`) for the values of object columns.
_INT_TYPES = [
    "int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype", "UInt8Dtype", "UInt16Dtype", "UInt32Dtype",
    "UInt64Dtype",
]  # fmt: skip
_FLOAT_TYPES = ["float", "float16", "float32", "float64", "Float32Dtype", "Float64Dtype"]
_TYPE_LISTS: dict[ColumnType, list[str]] = {
    "int": _INT_TYPES,
    "float": _FLOAT_TYPES + _INT_TYPES,
    "string": ["str", "StringDtype"],
    "bool": ["bool", "BooleanDtype"],
}
TYPE_TEXT: dict[ColumnType, str] = {
    "int": "int dtype",
    "float": "float or int dtype",
    "string": "string values",
    "bool": "bool dtype",
    "datetime": "datetime64 dtype or ISO-8601 timestamps",
}
# "datetime" = values that print as ISO-8601: strings like 2013-01-01T10:00:00Z, and datetime64 columns
# (GX's pandas regex check matches `column.astype(str)`, which renders them as 2013-01-01 10:00:00+00:00).
ISO_8601 = (  # non-capturing groups: pandas warns about match groups in `str.contains`
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$"
)
# Rules that compare values and so mean nothing once the column is missing or of the wrong type.
VALUE_RULES = frozenset({"min", "max", "range", "allowed", "pattern"})


def compile_suite(contract: Contract, typed_times: frozenset[str] = frozenset()) -> ExpectationSuite:
    """Translate a contract into a GX expectation suite: one expectation per contract rule.

    Args:
        contract: the data contract; its name and version name the suite.
        typed_times: `datetime` columns the batch already holds as datetime64: their dtype is the type
            check, so no text pattern is matched (GX would print every timestamp to match it).

    Returns:
        A suite not registered with any context. Each expectation's `meta["driftloop"]` holds the
        contract `column` (None for table rules), the `rule` and the human `expected` text.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    rows = contract.rows
    row_text = f">= {rows.min:,} rows" if rows.max is None else f"between {rows.min:,} and {rows.max:,} rows"
    expectations: list[Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=rows.min, max_value=rows.max, meta=_meta(None, "row_count", row_text)
        )
    ]
    for column, spec in contract.columns.items():
        time_format = contract.time.format if column == contract.time.column else None
        expectations += _column_expectations(column, spec, time_format, typed=column in typed_times)
    if contract.unique_key:
        keys_text = f"one row per ({', '.join(contract.unique_key)})"
        keys_meta = _meta(None, "unique_keys", keys_text)
        if len(contract.unique_key) == 1:  # GX's compound check needs two columns or more
            [key] = contract.unique_key
            expectations.append(gxe.ExpectColumnValuesToBeUnique(column=key, meta=keys_meta))
        else:
            expectations.append(
                gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.unique_key), meta=keys_meta)
            )
    # Passed to the constructor: `add_expectation` would look the suite up in the current context's store.
    suite = gx.ExpectationSuite(name=f"{contract.name}-v{contract.version}", expectations=expectations)
    if len(suite.expectations) != len(expectations):  # GX logs and drops invalid ones; make that loud
        raise ValueError(f"GX rejected {len(expectations) - len(suite.expectations)} expectation(s)")
    return suite


def _meta(column: str | None, rule: str, expected: str) -> dict[str, Any]:
    return {META_KEY: {"column": column, "rule": rule, "expected": expected}}


def rule_id(meta: dict[str, Any] | None) -> tuple[str | None, str]:
    tag = (meta or {})[META_KEY]
    return tag["column"], tag["rule"]


def _column_expectations(
    column: str, spec: ColumnSpec, time_format: str | None = None, typed: bool = False
) -> list[Expectation]:
    import great_expectations.expectations as gxe

    type_meta = _meta(column, "type", TYPE_TEXT[spec.type])
    type_check: Expectation | None
    if spec.type == "datetime" and typed:
        type_check = None  # a datetime64 column: its dtype already is the type rule (counted as checked)
    elif spec.type == "datetime" and time_format is not None:
        type_meta = _meta(column, "type", f"times written as {time_format}")
        type_check = gxe.ExpectColumnValuesToMatchStrftimeFormat(
            column=column, strftime_format=time_format, meta=type_meta
        )
    elif spec.type == "datetime":
        type_check = gxe.ExpectColumnValuesToMatchRegex(column=column, regex=ISO_8601, meta=type_meta)
    else:
        type_check = gxe.ExpectColumnValuesToBeInTypeList(
            column=column, type_list=_TYPE_LISTS[spec.type], meta=type_meta
        )
    expectations: list[Expectation] = [
        gxe.ExpectColumnToExist(column=column, meta=_meta(column, "exists", "column present")),
        *([type_check] if type_check is not None else []),
        gxe.ExpectColumnValuesToNotBeNull(
            column=column,
            mostly=1.0 - spec.max_null_fraction,
            meta=_meta(column, "max_null_fraction", null_text(spec)),
        ),
    ]
    bounds = range_rule(spec)
    if bounds is not None:
        rule, text = bounds
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=spec.min, max_value=spec.max, meta=_meta(column, rule, text)
            )
        )
    if spec.allowed is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=list(spec.allowed), meta=_meta(column, "allowed", allowed_text(spec))
            )
        )
    if spec.pattern is not None:
        expectations.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=spec.pattern, meta=_meta(column, "pattern", pattern_text(spec))
            )
        )
    return expectations


def null_text(spec: ColumnSpec) -> str:
    """The contract's null rule as the gate states it."""
    return "no nulls" if spec.max_null_fraction == 0 else f"<= {spec.max_null_fraction * 100:g}% nulls"


def range_rule(spec: ColumnSpec) -> tuple[str, str] | None:
    """The contract's bounds as the gate names and states them: ("range", "between 1 and 12"), ("min", …)."""
    if spec.min is not None and spec.max is not None:
        return "range", f"between {format_number(spec.min)} and {format_number(spec.max)}"
    if spec.min is not None:
        return "min", f">= {format_number(spec.min)}"
    if spec.max is not None:
        return "max", f"<= {format_number(spec.max)}"
    return None


def allowed_text(spec: ColumnSpec) -> str:
    return f"in [{', '.join(str(value) for value in spec.allowed or [])}]"


def pattern_text(spec: ColumnSpec) -> str:
    return f"matches {spec.pattern}"


def format_number(value: float | int | None) -> str:
    """1.0 -> "1", 0.5 -> "0.5": numbers in rule texts as a person would write them."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
