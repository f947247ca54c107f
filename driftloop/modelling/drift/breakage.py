"""Breakage that no distance statistic is needed for: a column that collapsed, emptied or changed vocabulary.

Distances compare the non-missing values that both sides share, so they can miss exactly the failures an
upstream bug causes: a categorical column stuck on one value, a numeric column that became constant or
all missing, a value never seen in training that takes over (the model sees it as missing), or a jump in
the missing rate. These checks count values on the whole batch; each finding names its column and numbers.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from driftloop.core.records import Record

BreakageKind = Literal["collapsed", "constant", "all_missing", "missing_jump", "new_dominant_value"]

# A value counts as new when the reference held less than this share of it.
_NEW_VALUE_MAX_REFERENCE_SHARE = 0.001


class Breakage(Record):
    """One broken column: what happened, in a sentence with the numbers."""

    column: str
    kind: BreakageKind
    detail: str


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def detect_breakage(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    missing_jump: float,
    new_value_share: float,
) -> tuple[Breakage, ...]:
    """Compare each column's values in `current` with `reference`: collapse, emptiness, new values, nulls.

    Args:
        reference: the model's reference rows (training features).
        current: the period's feature values; categoricals as their raw text, so a value the model never
            saw is still visible here.
        numeric: numeric columns.
        categorical: categorical columns.
        missing_jump: an increase of the missing share by at least this much (absolute) is breakage.
        new_value_share: a value (almost) absent from the reference that holds at least this share of
            the current rows is breakage.

    Returns:
        The findings, in column order; empty when nothing broke.
    """
    found: list[Breakage] = []
    for column in [*numeric, *categorical]:
        ref, cur = reference[column], current[column]
        ref_missing, cur_missing = float(ref.isna().mean()), float(cur.isna().mean())
        ref_values = ref.dropna().astype(object) if column in categorical else ref.dropna()
        cur_values = cur.dropna().astype(object) if column in categorical else cur.dropna()
        if cur_values.empty and not ref_values.empty:
            found.append(
                Breakage(
                    column=column,
                    kind="all_missing",
                    detail=f"{column}: all {len(cur)} values missing "
                    f"(reference: {_pct(ref_missing)} missing)",
                )
            )
            continue
        if cur_missing - ref_missing >= missing_jump:
            found.append(
                Breakage(
                    column=column,
                    kind="missing_jump",
                    detail=f"{column}: {_pct(cur_missing)} missing, "
                    f"up from {_pct(ref_missing)} in the reference",
                )
            )
        if cur_values.nunique() == 1 and ref_values.nunique() > 1:
            value = cur_values.iloc[0]
            value = value.item() if hasattr(value, "item") else value  # 61.0, not np.float64(61.0)
            top = _pct(float(ref_values.value_counts(normalize=True).iloc[0]))
            kind: BreakageKind = "collapsed" if column in categorical else "constant"
            found.append(
                Breakage(
                    column=column,
                    kind=kind,
                    detail=f"{column}: every value is {value!r} (reference: {ref_values.nunique()} distinct "
                    f"values, the most common at {top})",
                )
            )
            continue
        if column in categorical and len(cur_values):
            ref_share = ref_values.astype(str).value_counts(normalize=True)
            cur_share = cur_values.astype(str).value_counts() / len(cur)
            for value, share in cur_share.items():
                before = float(ref_share.get(value, 0.0))
                if share >= new_value_share and before < _NEW_VALUE_MAX_REFERENCE_SHARE:
                    found.append(
                        Breakage(
                            column=column,
                            kind="new_dominant_value",
                            detail=f"{column}: new value {value!r} holds {_pct(float(share))} of the rows "
                            f"(reference: {_pct(before)})",
                        )
                    )
    return tuple(found)
