"""The batch gate: check a DataFrame against its data contract with Great Expectations.

This module is the only adapter between driftloop and Great Expectations (GX). It compiles a `Contract`
into an expectation suite, runs it on a batch and reads GX's result objects into a typed
`ValidationReport`; nothing else in the code touches GX results. Every expectation carries `meta`
naming the contract column and rule it checks, so results are mapped back by meaning, never by position.

GX is imported lazily (it takes seconds to import) and its ephemeral context is built once per process,
on first use: importing this module has no side effects.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from driftloop.contract import ColumnSpec, ColumnType, Contract

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations import Expectation

__all__ = ["RuleFailure", "ValidationReport", "compile_suite", "validate_batch"]

# GX result format: BASIC carries the counts and up to `partial_unexpected_count` example values, which is
# all a report needs; SUMMARY/COMPLETE would also compute value counts and row indexes.
_RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 20}
_EXAMPLES = 3  # distinct example values quoted per broken rule
_MAX_MESSAGE = 200  # characters kept of an exception message

_META_KEY = "driftloop"  # expectation.meta[_META_KEY] = {"column": ..., "rule": ..., "expected": ...}

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
_TYPE_TEXT: dict[ColumnType, str] = {
    "int": "int dtype",
    "float": "float or int dtype",
    "string": "string values",
    "bool": "bool dtype",
    "datetime": "datetime64 dtype or ISO-8601 timestamps",
}
# "datetime" = values that print as ISO-8601: strings like 2013-01-01T10:00:00Z, and datetime64 columns
# (GX's pandas regex check matches `column.astype(str)`, which renders them as 2013-01-01 10:00:00+00:00).
_ISO_8601 = (  # non-capturing groups: pandas warns about match groups in `str.contains`
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$"
)
# Rules that compare values and so mean nothing once the column is missing or of the wrong type.
_VALUE_RULES = frozenset({"min", "max", "range", "allowed", "pattern"})
_GX_LOCK = threading.Lock()  # batches share one GX execution engine and batch id: validate one at a time


@dataclass(frozen=True)
class RuleFailure:
    """One broken contract rule, in words a person can act on."""

    column: str | None
    rule: str
    expected: str
    observed: str

    def describe(self) -> str:
        """One line, e.g. `dep_delay: max_null_fraction expected <= 10% nulls, observed 37.0% nulls (…)`."""
        where = f"{self.column}: " if self.column is not None else ""
        return f"{where}{self.rule} expected {self.expected}, observed {self.observed}"


@dataclass(frozen=True)
class ValidationReport:
    """What the gate decided about one batch, free of any Great Expectations type."""

    contract_name: str
    contract_version: int
    contract_fingerprint: str
    rows: int
    rules_checked: int
    failures: tuple[RuleFailure, ...]

    @property
    def passed(self) -> bool:
        """True when no rule of the contract is broken."""
        return not self.failures

    def message(self) -> str:
        """A header line, then one line per broken rule: the text a failed gate raises with."""
        contract = f"data contract '{self.contract_name}' v{self.contract_version}"
        if self.passed:
            return f"Batch passes {contract}: {self.rules_checked} rules checked on {self.rows:,} rows"
        lines = [f"Batch breaks {contract}: {len(self.failures)} rule(s)"]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        return "\n".join(lines)

    def to_json(self) -> str:
        """Stable JSON (sorted keys): stored next to the batch and compared across runs."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        """Read back a report written by `to_json`."""
        data = json.loads(text)
        failures = tuple(RuleFailure(**failure) for failure in data.pop("failures"))
        return cls(**data, failures=failures)

    def to_markdown(self) -> str:
        """A verdict line and a table of broken rules, for a Prefect markdown artifact."""
        verdict = "PASSED" if self.passed else f"FAILED: {len(self.failures)} rule(s) broken"
        header = (
            f"**Data contract `{self.contract_name}` v{self.contract_version}**: {verdict} "
            f"({self.rows:,} rows, {self.rules_checked} rules checked, "
            f"fingerprint `{self.contract_fingerprint[:12]}`)"
        )
        if self.passed:
            return f"{header}\n\nNo rule broken.\n"
        rows = ["| column | rule | expected | observed |", "| --- | --- | --- | --- |"]
        for failure in self.failures:
            cells = (failure.column or "(table)", failure.rule, failure.expected, failure.observed)
            rows.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
        return header + "\n\n" + "\n".join(rows) + "\n"


def compile_suite(contract: Contract) -> ExpectationSuite:
    """Translate a contract into a GX expectation suite: one expectation per contract rule.

    Args:
        contract: the data contract; its name and version name the suite.

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
        expectations += _column_expectations(column, spec)
    if contract.unique_key:
        keys_text = f"one row per ({', '.join(contract.unique_key)})"
        expectations.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(contract.unique_key), meta=_meta(None, "unique_keys", keys_text)
            )
        )
    # Passed to the constructor: `add_expectation` would look the suite up in the current context's store.
    suite = gx.ExpectationSuite(name=f"{contract.name}-v{contract.version}", expectations=expectations)
    if len(suite.expectations) != len(expectations):  # GX logs and drops invalid ones; make that loud
        raise ValueError(f"GX rejected {len(expectations) - len(suite.expectations)} expectation(s)")
    return suite


def validate_batch(df: pd.DataFrame, contract: Contract) -> ValidationReport:
    """Check one batch against its contract; never raises for bad data, only reports it.

    Args:
        df: the batch, as read from the source (no cleaning before the gate).
        contract: the data contract the batch must meet.

    Returns:
        A report listing every broken rule with concrete observed numbers. A missing column is reported
        once (rule `exists`); a column of the wrong type once (rule `type`), without its value checks.
        An expectation that raised inside GX becomes a failure unless `exists`/`type` already explain it.
    """
    suite = compile_suite(contract)
    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format=_RESULT_FORMAT)

    order = {_rule_id(expectation.meta): index for index, expectation in enumerate(suite.expectations)}
    outcomes = [_Outcome.read(item) for item in result.results]
    missing = {o.column for o in outcomes if o.rule == "exists" and not o.success}
    mistyped = {o.column for o in outcomes if o.rule == "type" and not o.success and not o.error}
    keys = set(contract.unique_key)
    failures = [
        outcome.failure()
        for outcome in outcomes
        if not outcome.success and not _explained(outcome, missing, mistyped, keys)
    ]
    failures.sort(key=lambda failure: order[(failure.column, failure.rule)])
    return ValidationReport(
        contract_name=contract.name,
        contract_version=contract.version,
        contract_fingerprint=contract.fingerprint,
        rows=len(df),
        rules_checked=len(order),
        failures=tuple(failures),
    )


# --- compiling ---------------------------------------------------------------------------------------


def _meta(column: str | None, rule: str, expected: str) -> dict[str, Any]:
    return {_META_KEY: {"column": column, "rule": rule, "expected": expected}}


def _rule_id(meta: dict[str, Any] | None) -> tuple[str | None, str]:
    tag = (meta or {})[_META_KEY]
    return tag["column"], tag["rule"]


def _column_expectations(column: str, spec: ColumnSpec) -> list[Expectation]:
    import great_expectations.expectations as gxe

    type_meta = _meta(column, "type", _TYPE_TEXT[spec.type])
    type_check: Expectation
    if spec.type == "datetime":
        type_check = gxe.ExpectColumnValuesToMatchRegex(column=column, regex=_ISO_8601, meta=type_meta)
    else:
        type_check = gxe.ExpectColumnValuesToBeInTypeList(
            column=column, type_list=_TYPE_LISTS[spec.type], meta=type_meta
        )
    null_text = "no nulls" if spec.max_null_fraction == 0 else f"<= {spec.max_null_fraction * 100:g}% nulls"
    expectations: list[Expectation] = [
        gxe.ExpectColumnToExist(column=column, meta=_meta(column, "exists", "column present")),
        type_check,
        gxe.ExpectColumnValuesToNotBeNull(
            column=column,
            mostly=1.0 - spec.max_null_fraction,
            meta=_meta(column, "max_null_fraction", null_text),
        ),
    ]
    if spec.min is not None or spec.max is not None:
        if spec.min is not None and spec.max is not None:
            rule, text = "range", f"between {_num(spec.min)} and {_num(spec.max)}"
        elif spec.min is not None:
            rule, text = "min", f">= {_num(spec.min)}"
        else:
            rule, text = "max", f"<= {_num(spec.max)}"
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=spec.min, max_value=spec.max, meta=_meta(column, rule, text)
            )
        )
    if spec.allowed is not None:
        text = f"in [{', '.join(str(value) for value in spec.allowed)}]"
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=list(spec.allowed), meta=_meta(column, "allowed", text)
            )
        )
    if spec.pattern is not None:
        expectations.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=spec.pattern, meta=_meta(column, "pattern", f"matches {spec.pattern}")
            )
        )
    return expectations


# --- running -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    """The process's one ephemeral GX context, pandas source and whole-frame batch definition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas(name="driftloop")
    asset = source.add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe(name="whole")


# --- reading results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """One GX expectation result, reduced to what the report needs."""

    column: str | None
    rule: str
    expected: str
    success: bool
    result: dict[str, Any]
    error: str | None

    @classmethod
    def read(cls, item: Any) -> _Outcome:
        tag = item.expectation_config.meta[_META_KEY]
        return cls(
            column=tag["column"],
            rule=tag["rule"],
            expected=tag["expected"],
            success=bool(item.success),
            result=dict(item.result or {}),
            error=_exception_message(item.exception_info),
        )

    def failure(self) -> RuleFailure:
        return RuleFailure(self.column, self.rule, self.expected, self._observed())

    def _observed(self) -> str:
        if self.error is not None:
            return f"could not be checked: {self.error}"
        result = self.result
        if self.rule == "row_count":
            return f"{_count(result.get('observed_value'))} rows"
        if self.rule == "exists":
            return "column missing"
        if "observed_value" in result:  # dtype-level type check
            return f"dtype {result['observed_value']}"
        bad, total = result.get("unexpected_count"), result.get("element_count")
        if self.rule == "max_null_fraction":
            share = f"{bad / total:.1%}" if isinstance(bad, int) and total else "?"
            return f"{share} nulls ({_count(bad)} of {_count(total)} rows)"
        non_null = total - result.get("missing_count", 0) if isinstance(total, int) else None
        if self.rule == "unique_keys":
            shared = "rows share their key with another row"
            return f"{_count(bad)} of {_count(total)} {shared}{_examples(result)}"
        what = {"allowed": "not allowed", "pattern": "do not match"}.get(self.rule, "outside")
        prefix = ""
        if self.rule == "type" and self.expected == _TYPE_TEXT["datetime"]:
            what = "do not parse as ISO-8601"
        elif self.rule == "type":  # GX checks values one by one only for object columns
            prefix, what = "dtype object, ", "are of another type"
        return f"{prefix}{_count(bad)} of {_count(non_null)} non-null values {what}{_examples(result)}"


def _exception_message(info: Any) -> str | None:
    """The first exception message in GX's `exception_info` (flat, or keyed by metric id)."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict):
            raised, message = entry.get("raised_exception"), entry.get("exception_message")
        else:  # an ExceptionInfo object, one per metric that failed to resolve
            raised = getattr(entry, "raised_exception", True)
            message = getattr(entry, "exception_message", "")
        if raised:
            text = str(message or "exception in Great Expectations").strip().splitlines()
            return (text[0] if text else "exception")[:_MAX_MESSAGE]
    return None


def _explained(
    outcome: _Outcome, missing: set[str | None], mistyped: set[str | None], keys: set[str]
) -> bool:
    """True when a failure only repeats what an `exists` or `type` failure already says."""
    if outcome.rule == "exists":
        return False
    if outcome.rule == "unique_keys":  # e.g. 'yesterday' or NaN in a key column makes rows look duplicated
        return bool(keys & (missing | mistyped))
    if outcome.column in missing:
        return True
    return outcome.column in mistyped and (outcome.rule in _VALUE_RULES or outcome.error is not None)


def _examples(result: dict[str, Any]) -> str:
    distinct: list[str] = []
    for value in result.get("partial_unexpected_list") or []:
        text = _show(value)
        if text not in distinct:
            distinct.append(text)
        if len(distinct) == _EXAMPLES:
            break
    return f", e.g. {', '.join(distinct)}" if distinct else ""


def _show(value: Any) -> str:
    if isinstance(value, dict):  # one row of a compound-key check
        return "(" + ", ".join(_show(item) for item in value.values()) + ")"
    if isinstance(value, str):
        return repr(value)
    return _num(value) if isinstance(value, float) else str(value)


def _num(value: float | int | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
