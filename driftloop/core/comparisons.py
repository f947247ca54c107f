"""Comparisons people read: `a OP b` printed with as many decimals as it takes for the claim to show.

A decision that says `prediction drift 0.11 > 0.11` is right about the numbers and wrong on the page. Every
comparison a verdict or a decision prints goes through `compare`, which adds decimals only when the usual
ones would print two numbers that do not compare as claimed (`0.115 > 0.114`), and otherwise prints what it
always printed (`AUC 0.660 < 0.688`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

Operator = Literal["<", "<=", ">", ">="]

_HOLDS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
MOST_DIGITS = 17  # enough decimals to tell apart any two distinct floats of a usual size


def printed(value: float, digits: int) -> Decimal:
    """`value` as it reads with `digits` decimals, exactly (for arithmetic on printed numbers)."""
    return Decimal(f"{value:.{digits}f}")


def comparison_digits(a: float, op: Operator, b: float, digits: int) -> int | None:
    """The fewest decimals, at least `digits`, at which `a` and `b` as printed compare as `op` claims.

    Args:
        a: the left number.
        op: the comparison claimed.
        b: the right number.
        digits: the decimals the text prints by default.

    Returns:
        The decimals; `digits` when the claim is false (or a number is NaN), since no count would make it
        true on the page; None when even `MOST_DIGITS` decimals print the two alike (tiny numbers).
    """
    holds = _HOLDS[op]
    if not holds(a, b):
        return digits
    for count in range(digits, max(digits, MOST_DIGITS) + 1):
        if holds(printed(a, count), printed(b, count)):
            return count
    return None


def compare(a: float, op: Operator, b: float, digits: int = 2) -> str:
    """`a OP b` with the fewest decimals, at least `digits`, at which the printed numbers compare as claimed.

    Args:
        a: the left number.
        op: the comparison claimed (`<`, `<=`, `>`, `>=`).
        b: the right number.
        digits: the decimals the text prints by default; used whenever they already show the claim.

    Returns:
        `"0.660 < 0.688"` for (0.6597, "<", 0.6881, 3); `"0.115 > 0.114"` for (0.1149, ">", 0.1141, 2).
    """
    count = comparison_digits(a, op, b, digits)
    if count is None:  # numbers too small for fixed decimals: Python's shortest exact form tells them apart
        return f"{a!r} {op} {b!r}"
    return f"{a:.{count}f} {op} {b:.{count}f}"
