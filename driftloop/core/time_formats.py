"""The forms a contract's time column may be written in, and what each can say.

`time.format` is unset (ISO-8601 text or datetime values), a strftime format (`%Y/%m/%d`; `%Y` for an integer
year; `%Y-%m` for year-month text), or `epoch_seconds` / `epoch_milliseconds`. A format that names only years
cannot cut months: the contract refuses a period finer than its format when it loads.
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

from driftloop.core.periods import PeriodKind

EPOCH_FORMATS = {"epoch_seconds": "s", "epoch_milliseconds": "ms"}  # format -> pandas' unit

_DIRECTIVE = re.compile(r"%[-#]?(.)")
_YEAR = frozenset("YyG")
_MONTH = frozenset("mbBh")
_WEEK = frozenset("UWV")
_DIGITS = frozenset("YmdHMSj")  # directives whose values are digits only (a format of these reads an integer)
_PROBE = datetime(2013, 11, 28, 17, 43, 9)  # every field distinct, none zero-padded alike


def format_unit(fmt: str) -> PeriodKind:
    """The finest period a strftime format can tell apart: `%Y` -> year, `%Y-%m` -> month, `%d` -> day."""
    codes = set(_DIRECTIVE.findall(fmt))
    if codes - _YEAR - _MONTH - _WEEK - {"%"}:
        return "day"
    if codes & _WEEK:
        return "week"
    return "month" if codes & _MONTH else "year"


def digits_only(fmt: str) -> bool:
    """Whether times in this format are plain integers such as 2013 or 20130401 (read from int columns)."""
    codes = _DIRECTIVE.findall(fmt)
    return bool(codes) and set(codes) <= _DIGITS and _DIRECTIVE.sub("", fmt) == ""


def strftime_problem(fmt: str) -> str | None:
    """Why `fmt` cannot read times back (None when it can): no directive, no year, or no round trip."""
    codes = set(_DIRECTIVE.findall(fmt))
    if not codes:
        return "not a strftime format (e.g. %Y-%m-%d), nor epoch_seconds or epoch_milliseconds"
    if not codes & _YEAR:
        return "names no year (%Y): a time without its year cannot be put in a period"
    try:
        written = _PROBE.strftime(fmt)
        read = pd.to_datetime(written, format=fmt)
    except (ValueError, TypeError) as error:
        return f"pandas cannot read times written this way ({error})"
    if pd.isna(read) or read.year != _PROBE.year:
        return f"{written!r}, written with it, does not read back as the same time"
    return None
