"""A printed comparison shows what it claims: decimals are added only when the usual ones print alike."""

from __future__ import annotations

import math
import operator
from decimal import Decimal

import pytest

from driftloop.core.comparisons import Operator, compare, comparison_digits


def test_numbers_alike_at_the_usual_decimals_get_the_decimals_that_tell_them_apart() -> None:
    assert compare(0.1149, ">", 0.1141, 2) == "0.115 > 0.114"  # not "0.11 > 0.11"
    assert compare(0.68801, "<", 0.68829, 3) == "0.6880 < 0.6883"  # not "0.688 < 0.688"
    assert compare(0.11001, ">", 0.11, 2) == "0.11001 > 0.11000"
    assert comparison_digits(0.1149, ">", 0.1141, 2) == 3


def test_numbers_that_already_differ_print_as_they_always_did() -> None:
    assert compare(0.6597, "<", 0.6881, 3) == "0.660 < 0.688"  # the golden replay's first "why"
    assert compare(0.7130, "<", 0.7577, 3) == "0.713 < 0.758"
    assert compare(0.1149, ">", 0.1041, 3) == "0.115 > 0.104"
    assert compare(1.4, ">=", 1.0) == "1.40 >= 1.00"


def test_a_claim_that_allows_equality_needs_no_more_decimals() -> None:
    assert compare(1.0, ">=", 1.0, 2) == "1.00 >= 1.00"  # the index at its threshold alarms
    assert compare(1.004, ">=", 1.0, 2) == "1.00 >= 1.00"
    assert compare(0.1141, "<=", 0.1149, 2) == "0.11 <= 0.11"
    assert compare(0.1141, "<", 0.1149, 2) == "0.114 < 0.115"


def test_a_false_claim_or_nan_is_printed_at_the_usual_decimals() -> None:
    assert compare(0.5, "<", 0.4, 3) == "0.500 < 0.400"
    assert compare(math.nan, "<", 0.5, 3) == "nan < 0.500"
    assert comparison_digits(0.11, ">", 0.11, 2) == 2  # equal: no count of decimals would show ">"


def test_numbers_too_close_for_fixed_decimals_print_exactly() -> None:
    assert compare(1e-20, ">", 0.0) == "1e-20 > 0.0"
    assert comparison_digits(1e-20, ">", 0.0, 2) is None


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_the_printed_numbers_compare_as_claimed(op: Operator) -> None:
    holds = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
    pairs = [(0.1141, 0.1149), (0.68829, 0.68801), (0.5, 0.5), (0.33333, 0.33334), (2.0, 1.9999999)]
    checked = 0
    for a, b in [*pairs, *((b, a) for a, b in pairs)]:
        left, shown, right = compare(a, op, b, 2).split()
        assert shown == op
        if holds(a, b):
            assert holds(Decimal(left), Decimal(right)), f"{left} {op} {right}"
            checked += 1
    assert checked >= 4
