"""Run a compiled suite on one batch and read GX's result objects into a typed `ValidationReport`.

The only code in driftloop that touches GX results. Its ephemeral context is built once per process, on
first use, and kept in the named, one-entry cache `_batch_definition`; importing this module does nothing.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype
from pandas.api.types import (
    infer_dtype,
    is_datetime64_any_dtype,
    is_object_dtype,
    is_signed_integer_dtype,
    is_unsigned_integer_dtype,
)

from driftloop.core.contract import Contract
from driftloop.data.validation.report import RuleFailure, ValidationReport
from driftloop.data.validation.suite import (
    META_KEY,
    TYPE_TEXT,
    VALUE_RULES,
    compile_suite,
    format_number,
    rule_id,
)
from driftloop.data.validation.time_rules import contract_rules

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations import Expectation

# GX result formats: a batch is first checked pass/fail only (BOOLEAN_ONLY skips collecting unexpected
# values, a quarter of the time on a large batch); only the expectations that failed are run again with
# BASIC, which carries the counts and up to `partial_unexpected_count` example values a report quotes.
_PASS_FAIL: dict[str, Any] = {"result_format": "BOOLEAN_ONLY"}
_RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 20}
_EXAMPLES = 3  # distinct example values quoted per broken rule
_MAX_MESSAGE = 200  # characters kept of an exception message
_ONLY_TEXT = frozenset({"string", "empty"})  # `infer_dtype` of an object column of str and nulls
_GX_LOCK = threading.Lock()  # batches share one GX execution engine and batch id: validate one at a time


def validate_batch(
    df: pd.DataFrame, contract: Contract, period: str | None = None, now: pd.Timestamp | None = None
) -> ValidationReport:
    """Check one batch against its contract; never raises for bad data, only reports it.

    Args:
        df: the batch, as read from the source (no cleaning before the gate).
        contract: the data contract the batch must meet.
        period: the batch's period, when known: rows outside it are a broken rule.
        now: what counts as the future (default: the current time).

    Returns:
        A report listing every broken rule with concrete observed numbers. A missing column is reported
        once (rule `exists`); a column of the wrong type once (rule `type`), without its value checks.
        An expectation that raised inside GX becomes a failure unless `exists`/`type` already explain it.
    """
    typed = frozenset(
        column
        for column, spec in contract.columns.items()
        if spec.type == "datetime" and column in df.columns and is_datetime64_any_dtype(df[column])
    )
    suite = compile_suite(contract, typed)
    results: dict[tuple[str | None, str], Any] = {}
    with _GX_LOCK:
        for (column, table_rule), expectations in _by_domain(suite.expectations).items():
            results.update(_validate_domain(_domain(df, column, table_rule, contract), expectations))

    order = {rule_id(expectation.meta): index for index, expectation in enumerate(suite.expectations)}
    outcomes = [_Outcome.read(item) for item in results.values()]
    missing = {o.column for o in outcomes if o.rule == "exists" and not o.success}
    mistyped = {o.column for o in outcomes if o.rule == "type" and not o.success and not o.error}
    keys = set(contract.unique_key)
    failures = [
        outcome.failure()
        for outcome in outcomes
        if not outcome.success and not _explained(outcome, missing, mistyped, keys)
    ]
    failures.sort(key=lambda failure: order[(failure.column, failure.rule)])
    extra_checked, extra_failures = contract_rules(
        df, contract, period, now if now is not None else pd.Timestamp.now(tz="UTC")
    )
    return ValidationReport(
        contract_name=contract.name,
        contract_version=contract.version,
        contract_fingerprint=contract.fingerprint,
        rows=len(df),
        rules_checked=len(order) + len(typed) + extra_checked,
        failures=(*failures, *extra_failures),
    )


def _by_domain(expectations: list[Expectation]) -> dict[tuple[str | None, str | None], list[Expectation]]:
    """The suite's expectations grouped by what they read: a contract column's checks together, and each
    table rule on its own (the row count needs no column, the unique key only its own)."""
    groups: dict[tuple[str | None, str | None], list[Expectation]] = {}
    for expectation in expectations:
        column, rule = rule_id(expectation.meta)
        groups.setdefault((column, rule if column is None else None), []).append(expectation)
    return groups


def _domain(df: pd.DataFrame, column: str | None, table_rule: str | None, contract: Contract) -> pd.DataFrame:
    """The part of the batch one group of expectations reads, as GX checks it fastest.

    GX filters the whole batch (every column) by a column's nulls before each check of that column, so a
    one-column frame per group costs a fraction of the batch. GX also checks some dtypes value by value
    in Python, so without changing any verdict: a numeric column is widened to int64 or float64
    (lossless, same kind), and an object column that holds only text becomes pandas' string dtype.
    """
    if table_rule == "unique_keys":
        return df[[key for key in contract.unique_key if key in df.columns]]
    if column is None or column not in df.columns:  # the same rows and no column: the row count, or
        return df[[]]  # `exists` failing for a missing column (which explains its other rules)
    part = df[[column]]
    dtype, declared = part[column].dtype, contract.columns[column].type
    if (
        declared == "string"
        and is_object_dtype(dtype)
        and infer_dtype(part[column], skipna=True) in _ONLY_TEXT
    ):
        return part.astype("string")  # checked as text by its dtype, not value by value
    if isinstance(dtype, ExtensionDtype) or declared not in ("int", "float"):
        return part
    if is_signed_integer_dtype(dtype) or (is_unsigned_integer_dtype(dtype) and dtype.itemsize < 8):
        return part.astype(np.int64) if dtype != np.int64 else part
    if dtype == np.float32 and declared == "float":
        return part.astype(np.float64)
    return part


def _validate_domain(df: pd.DataFrame, expectations: list[Expectation]) -> dict[tuple[str | None, str], Any]:
    """Pass/fail every expectation on `df`; only those that failed again with the counts and examples a
    report quotes (BOOLEAN_ONLY skips collecting unexpected values, a quarter of the time)."""
    import great_expectations as gx

    batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
    passed = batch.validate(
        gx.ExpectationSuite(name="domain", expectations=expectations), result_format=_PASS_FAIL
    )
    results = {rule_id(item.expectation_config.meta): item for item in passed.results}
    broken = [e for e in expectations if not results[rule_id(e.meta)].success]
    if broken:
        detail = gx.ExpectationSuite(name="broken", expectations=[copy.copy(e) for e in broken])
        rerun = batch.validate(detail, result_format=_RESULT_FORMAT)
        results.update((rule_id(item.expectation_config.meta), item) for item in rerun.results)
    return results


@functools.lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    """The process's one ephemeral GX context, pandas source and whole-frame batch definition."""
    return ephemeral_batch_definition("driftloop")


def ephemeral_batch_definition(name: str) -> BatchDefinition:
    """A GX context in memory (no files, no analytics, no progress bars) and a whole-dataframe batch."""
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
    source = context.data_sources.add_pandas(name=name)
    asset = source.add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe(name="whole")


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
        tag = item.expectation_config.meta[META_KEY]
        return cls(
            column=tag["column"],
            rule=tag["rule"],
            expected=tag["expected"],
            success=bool(item.success),
            result=dict(item.result or {}),
            error=_exception_message(item.exception_info),
        )

    def failure(self) -> RuleFailure:
        return RuleFailure(
            column=self.column, rule=self.rule, expected=self.expected, observed=self._observed()
        )

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
        if self.rule == "type" and self.expected == TYPE_TEXT["datetime"]:
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
    return outcome.column in mistyped and (outcome.rule in VALUE_RULES or outcome.error is not None)


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
    return format_number(value) if isinstance(value, float) else str(value)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"
