"""The columns of a draft: each one's type, range, null limit and categories; identifiers; the label rule
on the target column; a unique key.

A range is the observed min..max widened by `RANGE_MARGIN` of the spread and rounded outward: never
narrower than what was seen, never below 0 when nothing was. A null limit is the worst period's null share
plus `NULL_HEADROOM` of it. Text of at most `MAX_ALLOWED` values, each seen `MIN_SEEN` times, gets a closed
`allowed:` set; codes of one shape a `pattern`.
"""

from __future__ import annotations

import math
import re
from itertools import groupby
from typing import Literal

import numpy as np
import pandas as pd

from driftloop.core.contract import ColumnSpec, ColumnType, TargetSpec
from driftloop.core.periods import PeriodKind
from driftloop.data.validation.suite import ISO_8601
from driftloop.lifecycle.drafting.records import (
    ColumnDraft,
    DraftRefused,
    DraftRequest,
    LeakSuspect,
    number_text,
)

RANGE_MARGIN = 0.10  # a range is the observed min..max widened by this share of the spread
NULL_HEADROOM = 0.5  # a null limit is the worst period's share plus this share of it (at least one point)
MAX_ALLOWED = 20  # text of this many distinct values or fewer, ...
MIN_SEEN = 5  # ... each seen this often, gets a closed `allowed:` set
MAX_CATEGORIES = 200  # text of more distinct values identifies rows: no category
ID_SHARE = 0.95  # a column distinct on this share of its rows identifies them
COUNTER_SHARE = 0.5  # whole numbers that only rise, distinct on this share of the rows, count them
MAX_KEY_COLUMNS = 3  # the most columns added to the time column to make a unique key
_OUTLIER_SPREADS = 10  # an extreme this many 1st..99th-percentile spreads beyond the bulk is named
# Whole-number columns named for a calendar part take its whole range when every value lies in it: a file
# of three months should not refuse the fourth.
CALENDAR_RANGES = {"month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59), "second": (0, 59),
                   "quarter": (1, 4)}  # fmt: skip


def draft_column(values: pd.Series, by_period: pd.Series, kind: PeriodKind) -> ColumnDraft:
    """A column's type, range, null limit and categories, whether it identifies rows, and the evidence.

    Args:
        values: the column, all rows of the file.
        by_period: each row's period label (NA for a row whose time does not read).
        kind: the period, for the evidence.
    """
    name = str(values.name)
    known = values.dropna()
    column_type = _column_type(known)
    limit, null_note = _null_rule(values, by_period, kind)
    spec: dict[str, object] = {"type": column_type, "max_null_fraction": limit}
    if known.empty:
        return ColumnDraft(
            name=name, spec=ColumnSpec(**spec), note="no value at all", excluded="no value at all"
        )
    distinct = int(known.nunique())
    identifies = len(values) >= 20 and distinct >= ID_SHARE * len(known)
    notes: list[str] = []
    feature: Literal["numeric", "categorical"] | None = None
    excluded = outlier = None
    if column_type in ("int", "float"):
        numbers = known.to_numpy(dtype=float)
        lo, hi = float(numbers.min()), float(numbers.max())
        spec["min"], spec["max"] = readable_range(lo, hi, integer=column_type == "int")
        notes.append(f"seen {number_text(lo)}..{number_text(hi)}")
        natural = CALENDAR_RANGES.get(name.lower())
        if column_type == "int" and natural is not None and natural[0] <= lo and hi <= natural[1]:
            spec["min"], spec["max"] = natural
            notes.append(f"a calendar {name.lower()}: its whole range")
        outlier = _outlier(numbers, name)
        feature = "numeric"
        if column_type == "int" and identifies:
            excluded = f"an identifier: unique per row ({distinct:,} distinct values)"
        elif column_type == "int" and distinct >= COUNTER_SHARE * len(known) and _only_rises(known):
            excluded = f"an identifier: a counter, rising row by row ({distinct:,} distinct values)"
    elif column_type == "string":
        feature, excluded = _text_rules(known.astype(str), identifies, spec, notes)
    elif column_type == "bool":
        feature = "numeric"
        notes.append("true/false")
    else:
        notes.append("a second time")
        excluded = "a time: derive what a model needs from it by hand"
    if distinct == 1 and excluded is None:
        excluded = f"one value only ({known.iloc[0]}): nothing to learn"
    if null_note:
        notes.append(null_note)
    if excluded is not None:
        notes.append(f"no feature: {excluded}")
        spec["role"] = "id" if excluded.startswith("an identifier") else None
    return ColumnDraft(
        name=name,
        spec=ColumnSpec(**spec),
        note="; ".join(notes),
        feature=None if excluded else feature,
        excluded=excluded,
        outlier=outlier,
    )


def _text_rules(
    texts: pd.Series, identifies: bool, spec: dict[str, object], notes: list[str]
) -> tuple[Literal["categorical"] | None, str | None]:
    """Text: `allowed` or `pattern` into `spec`, the evidence into `notes`; a category, or why not."""
    counts = texts.value_counts()
    distinct = len(counts)
    if distinct <= MAX_ALLOWED and counts.min() >= MIN_SEEN:
        spec["allowed"] = sorted(counts.index)
        notes.append(f"{distinct} values, each seen {counts.min():,}+ times: a new one is a change to review")
    elif (pattern := text_pattern(counts.index.to_series())) is not None:
        spec["pattern"] = pattern
        notes.append(f"{distinct:,} codes of one shape: new codes pass, other shapes do not")
    else:
        notes.append(f"{distinct:,} distinct texts")
    if identifies:
        return None, "an identifier: a distinct text on (nearly) every row"
    if distinct > MAX_CATEGORIES:
        return None, f"an identifier: more than {MAX_CATEGORIES} distinct texts, too many for a category"
    return "categorical", None


def _column_type(known: pd.Series) -> ColumnType:
    if pd.api.types.is_bool_dtype(known):
        return "bool"
    if pd.api.types.is_integer_dtype(known):
        return "int"
    if pd.api.types.is_float_dtype(known):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(known):
        return "datetime"
    if len(known) and known.astype(str).str.fullmatch(ISO_8601).all():
        return "datetime"
    return "string"


def _only_rises(known: pd.Series) -> bool:
    return bool(known.is_monotonic_increasing or known.is_monotonic_decreasing)


def _null_rule(values: pd.Series, by_period: pd.Series, kind: PeriodKind) -> tuple[float, str]:
    missing = values.isna()
    share = float(missing.mean()) if len(values) else 0.0
    if share == 0.0:
        return 0.0, ""
    worst = float(missing.groupby(by_period.to_numpy(), dropna=True).mean().max())
    worst = share if math.isnan(worst) else max(worst, share)
    return null_limit(worst), f"null in {_share(share)} of rows, {_share(worst)} in the worst {kind}"


def _share(share: float) -> str:
    return "<0.1%" if 0 < share < 0.001 else f"{share:.1%}"


def null_limit(worst: float) -> float:
    """The worst share plus `NULL_HEADROOM` of it (at least one point), rounded up to a step of 0.01
    (0.05 from 0.1 on)."""
    if worst <= 0:
        return 0.0
    wanted = worst + max(NULL_HEADROOM * worst, 0.01)
    step = 0.01 if wanted < 0.1 else 0.05
    return min(1.0, round(math.ceil(wanted / step - 1e-9) * step, 2))


def readable_range(lo: float, hi: float, integer: bool = False) -> tuple[float, float]:
    """lo..hi widened by `RANGE_MARGIN` of the spread, rounded outward to the power of ten of the margin
    (whole numbers for an int column); never narrower than lo..hi, never below 0 when lo is not."""
    spread = hi - lo
    margin = RANGE_MARGIN * spread if spread > 0 else max(abs(hi) * RANGE_MARGIN, 1.0)
    exponent = math.floor(math.log10(margin))
    step = max(10.0**exponent, 1.0) if integer else 10.0**exponent
    digits = max(0, -exponent)
    low = round(math.floor((lo - margin) / step) * step, digits)
    high = round(math.ceil((hi + margin) / step) * step, digits)
    if lo >= 0 > low:
        low = 0.0
    while low > lo:  # a float that rounded the wrong way
        low = round(low - step, digits)
    while high < hi:
        high = round(high + step, digits)
    return (float(round(low)), float(round(high))) if integer else (low, high)


def text_pattern(texts: pd.Series) -> str | None:
    """A regex for codes of one length, position by position (capitals, small letters, digits, or one fixed
    character): `^[A-Z0-9]{2}$` for airline codes. None when lengths differ or a character is not ASCII."""
    lengths = texts.str.len()
    if texts.empty or lengths.nunique() != 1 or not 1 <= lengths.iloc[0] <= 16:
        return None
    classes = []
    for position in range(int(lengths.iloc[0])):
        chars = set(texts.str[position])
        if len(chars) == 1 and not next(iter(chars)).isalnum() and next(iter(chars)).isascii():
            classes.append(re.escape(next(iter(chars))))
            continue
        if not all(char.isascii() and char.isalnum() for char in chars):
            return None
        ranges = [("A-Z", str.isupper), ("a-z", str.islower), ("0-9", str.isdigit)]
        classes.append("[" + "".join(span for span, test in ranges if any(map(test, chars))) + "]")
    runs = ((cls, len(list(same))) for cls, same in groupby(classes))
    return "^" + "".join(cls if count == 1 else f"{cls}{{{count}}}" for cls, count in runs) + "$"


def _outlier(numbers: np.ndarray, name: str) -> str | None:
    """A note when an extreme lies far outside the bulk: a glitch the drafted range now admits."""
    q01, q99 = np.percentile(numbers, [1, 99])
    bulk = q99 - q01
    if bulk <= 0:
        return None
    far = []
    if numbers.max() - q99 > _OUTLIER_SPREADS * bulk:
        far.append(
            f"max {number_text(numbers.max())} lies far above the 99th percentile ({number_text(q99)})"
        )
    if q01 - numbers.min() > _OUTLIER_SPREADS * bulk:
        far.append(f"min {number_text(numbers.min())} lies far below the 1st percentile ({number_text(q01)})")
    if not far:
        return None
    return f"{name}: {' and '.join(far)}: a glitch? the range admits it; narrow it to refuse such rows"


def as_target(draft: ColumnDraft) -> ColumnDraft:
    """The column marked `role: target`: the label's source, no feature."""
    spec = draft.spec.model_copy(update={"role": "target"})
    note = f"{draft.note.split('; no feature')[0]}; the label's source"
    return draft.model_copy(update={"spec": spec, "feature": None, "excluded": None, "note": note})


def as_leak(draft: ColumnDraft, leak: LeakSuspect) -> ColumnDraft:
    """The column marked `role: leakage`, with the evidence."""
    spec = draft.spec.model_copy(update={"role": "leakage"})
    why = f"suspected leak: {leak.evidence}"
    return draft.model_copy(
        update={"spec": spec, "feature": None, "excluded": why, "note": leak.notes[draft.name]}
    )


def target_rule(values: pd.Series, request: DraftRequest) -> TargetSpec:
    """The label rule: `positive_above`, `positive_value` (read as the column's type), or none for 0/1.

    Raises:
        DraftRefused: both rules; neither for a column that is not 0/1; a rule the values cannot meet.
    """
    column, above, wanted = request.target_column, request.positive_above, request.positive_value
    if above is not None and wanted is not None:
        raise DraftRefused("--positive-above and --positive-value: give one label rule, not both")
    known = values.dropna()
    if known.empty:
        raise DraftRefused(f"--target {column}: the column holds no value")
    numeric = pd.api.types.is_numeric_dtype(known) and not pd.api.types.is_bool_dtype(known)
    zero_one = pd.api.types.is_bool_dtype(known) or (numeric and set(np.unique(known)) <= {0, 1})
    examples = ", ".join(map(str, pd.unique(known)[:4]))
    value: str | int | float | bool | None = None
    if above is not None:
        if not numeric:
            raise DraftRefused(
                f"--positive-above {number_text(above)}: --target {column} holds text (e.g. {examples}); "
                "use --positive-value"
            )
        label = known > above
    elif wanted is not None:
        value = _typed_value(known, wanted, column, examples)
        label = known.astype(str).str.strip() == value if isinstance(value, str) else known == value
    elif zero_one:
        label = known.astype(bool)
    else:
        raise DraftRefused(
            f"--target {column} holds values other than 0/1 (e.g. {examples}): say which rows are positive "
            "with --positive-above X (a number) or --positive-value V (one value)"
        )
    if label.all() or not label.any():
        raise DraftRefused(
            f"every row of {column} is {'positive' if label.all() else 'negative'} under that rule: "
            "the label would never change"
        )
    return TargetSpec(
        name=_label_name(column, above, value), column=column, positive_above=above, positive_value=value
    )


def _typed_value(known: pd.Series, wanted: str, column: str, examples: str) -> str | int | float | bool:
    if pd.api.types.is_bool_dtype(known):
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if wanted.strip().lower() not in truth:
            raise DraftRefused(f"--positive-value {wanted}: --target {column} holds true/false")
        return truth[wanted.strip().lower()]
    if pd.api.types.is_numeric_dtype(known):
        try:
            number = float(wanted)
        except ValueError:
            raise DraftRefused(
                f"--positive-value {wanted}: --target {column} holds numbers (e.g. {examples})"
            ) from None
        value: str | int | float = int(number) if number.is_integer() else number
        present = (known == value).any()
    else:
        value = wanted.strip()
        present = (known.astype(str).str.strip() == value).any()
    if not present:
        raise DraftRefused(f"--positive-value {wanted}: no row of {column} holds it (e.g. {examples})")
    return value


def _label_name(column: str, above: float | None, value: object) -> str:
    if above is not None:
        rule = f"{column}_above_{number_text(above).replace('-', 'minus_')}"
    elif value is not None:
        rule = f"{column}_is_{value}"
    else:
        rule = column
    return re.sub(r"[^a-z0-9]+", "_", rule.lower()).strip("_") or "label"


def unique_key(
    frame: pd.DataFrame, time_column: str, drafts: dict[str, ColumnDraft]
) -> tuple[list[str], str]:
    """The time column and the fewest columns (added greedily, at most `MAX_KEY_COLUMNS`) that make every
    row of the file unique; else a column unique on its own; else no key. Returns the key and the evidence.

    Candidates are whole-number, text and true/false columns without nulls, neither target nor leak.
    """
    complete = [
        name
        for name, draft in drafts.items()
        if name != time_column
        and draft.spec.type in ("int", "string", "bool")
        and draft.spec.role not in ("target", "leakage")
        and not frame[name].isna().any()
    ]
    alone = [name for name in complete if not frame[name].duplicated().any()]
    others = [name for name in complete if name not in alone and frame[name].nunique() > 1]
    key = [time_column]
    duplicates = int(frame.duplicated(subset=key).sum())
    while duplicates and len(key) <= MAX_KEY_COLUMNS and others:
        counts = {name: int(frame.duplicated(subset=[*key, name]).sum()) for name in others}
        pick = min(counts, key=lambda name: (counts[name], frame[name].nunique()))
        if counts[pick] == duplicates:
            break
        key.insert(len(key) - 1, pick)
        others.remove(pick)
        duplicates = counts[pick]
    also = f"; {', '.join(alone)} alone too (an identifier)" if alone else ""
    if not duplicates:
        return key, f"unique in the file: one row per {', '.join(key)}{also}"
    if alone:
        return [
            alone[0]
        ], f"{alone[0]} is unique in the file; no {MAX_KEY_COLUMNS} columns with {time_column} are"
    return [], f"no key: {duplicates:,} rows repeat ({', '.join(key)}) and no column is unique"
