"""Rules Great Expectations does not express for us: the schema is closed, and time is checked like any
other column (no future rows, no row outside its batch's period, columns that must agree with it)."""

from __future__ import annotations

import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.periods import period_labels
from driftloop.core.times import local_times
from driftloop.data.validation.report import RuleFailure

_EXAMPLES = 3


def _examples(values: pd.Series) -> str:
    shown = [str(value) for value in values.drop_duplicates().head(_EXAMPLES)]
    return f", e.g. {', '.join(shown)}" if shown else ""


def _rows(mask: pd.Series, df: pd.DataFrame, what: str, column: str) -> str:
    return f"{int(mask.sum()):,} of {len(df):,} rows {what}{_examples(df.loc[mask, column])}"


def _calendar(times: pd.Series, part: str) -> pd.Series:
    if part == "day_of_week":
        return times.dt.dayofweek
    return getattr(times.dt, part)


def contract_rules(
    df: pd.DataFrame, contract: Contract, period: str | None, now: pd.Timestamp
) -> tuple[int, list[RuleFailure]]:
    """Check the rules the GX suite leaves out; returns how many were checked and those broken.

    Args:
        df: the batch as it arrived.
        contract: declares the time column, the closed schema and the consistency rules.
        period: the batch's period, when it is known (ingest knows it; a file checked alone may not).
        now: what counts as the future.
    """
    failures: list[RuleFailure] = []
    checked = 0
    if contract.extra_columns == "refuse":
        checked += 1
        extra = [column for column in df.columns if column not in contract.columns]
        if extra:
            failures.append(
                RuleFailure(
                    column=None,
                    rule="extra_columns",
                    expected="only the declared columns (or set extra_columns: drop or keep)",
                    observed=f"{len(extra)} undeclared: {', '.join(map(str, extra[:10]))}",
                )
            )
    column = contract.time.column
    if column not in df.columns or df.empty:
        return checked, failures  # the `exists` and `row_count` rules already say so
    times = local_times(df, column, contract.time.timezone, contract.time.format)
    known = times.notna()
    if contract.time.numeric:  # GX checks the numbers' type; whether they name a time is checked here
        checked += 1
        unreadable = df[column].notna() & ~known
        if unreadable.any():
            failures.append(
                RuleFailure(
                    column=column,
                    rule="type",
                    expected=f"times written as {contract.time.format}",
                    observed=_rows(unreadable, df, "name no time", column),
                )
            )
    time_checks = [("not_in_future", f"times up to now ({now:%Y-%m-%d %H:%M} UTC)", "in the future",
                    known & (times > now.tz_convert(contract.time.timezone)))]  # fmt: skip
    if period is not None:
        within = f"times within {contract.time.period} {period} ({contract.time.timezone})"
        time_checks.append(
            ("period", within, "outside", known & (period_labels(times, contract.time.period) != period))
        )
    for rule, expected, what, broken in time_checks:
        checked += 1
        if broken.any():
            failures.append(
                RuleFailure(
                    column=column, rule=rule, expected=expected, observed=_rows(broken, df, what, column)
                )
            )
    for rule in contract.consistency:
        checked += 1
        if rule.column not in df.columns:
            continue  # reported by `exists`
        values = pd.to_numeric(df[rule.column], errors="coerce")
        expected = _calendar(times, rule.equals)
        differ = known & values.notna() & (values != expected)
        if differ.any():
            pairs = [
                f"{v:g} vs {e}"
                for v, e in zip(values[differ].head(_EXAMPLES), expected[differ].head(_EXAMPLES), strict=True)
            ]
            failures.append(
                RuleFailure(
                    column=rule.column,
                    rule="consistency",
                    expected=f"equals the {rule.equals} of {column} ({contract.time.timezone})",
                    observed=f"{int(differ.sum()):,} of {len(df):,} rows differ, e.g. {', '.join(pairs)}",
                )
            )
    return checked, failures
