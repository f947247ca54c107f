"""Columns a draft keeps out of the features because they would leak the label.

Two cheap, explainable checks, both out of time (fit on the first 80% of the rows by time, judged on the
last 20%, as the training's leakage guard splits):

- a single leak: a column that alone predicts the label with AUC >= `LEAK_AUC`
  (`driftloop.modelling.leakage.single_feature_power`, the guard's own measure);
- a grouped leak: numeric columns that together restate the target column, each weak alone (a histogram or
  a decomposition of the very score the label is cut from). Least squares of the target column on the
  columns, added greedily (the one raising R² most first, at most `MAX_GROUP`), then pruned to the fewest
  that still explain `GROUP_R2` of its variance. A label read from text is regressed as 0/1 instead.
"""

from __future__ import annotations

import pandas as pd

from driftloop.core.contract import TargetSpec
from driftloop.lifecycle.drafting.records import ColumnDraft, LeakScreen, LeakSuspect
from driftloop.modelling.leakage import single_feature_power
from driftloop.modelling.restatement import GROUP_R2, restating_group

LEAK_AUC = 0.90  # a column alone predicting the label this well (out of time) is a suspected leak
STRONG_AUC = 0.80  # one this strong is named for a person to check (known before the outcome?)
_MIN_ROWS = 20


def find_leaks(
    frame: pd.DataFrame,
    drafts: dict[str, ColumnDraft],
    label: pd.Series,
    times: pd.Series,
    target: TargetSpec,
) -> LeakScreen:
    """The single leaks among the drafted features, then one group of the other numeric ones that
    restates the target column, if there is one.

    Args:
        frame: the file's rows.
        drafts: the drafted columns; those with a `feature` kind are screened.
        label: the label of each row (NaN where the outcome is unknown).
        times: each row's time, for the out-of-time split.
        target: the label rule.
    """
    candidates = [name for name, draft in drafts.items() if draft.feature is not None]
    usable = (label.notna() & times.notna()).to_numpy()
    if not candidates or usable.sum() < _MIN_ROWS:
        return LeakScreen(suspects=(), powers={})
    rows = frame.loc[usable, candidates].reset_index(drop=True)
    y = label[usable].reset_index(drop=True)
    when = times[usable].reset_index(drop=True)
    powers = {power.feature: power.auc for power in single_feature_power(rows, y, when)}
    suspects = []
    for name, auc in powers.items():
        if auc >= LEAK_AUC:
            evidence = f"alone it predicts {target.name} with AUC {auc:.3f} out of time (>= {LEAK_AUC:g})"
            suspects.append(
                LeakSuspect(columns=(name,), evidence=evidence, notes={name: f"LEAK? {evidence}"})
            )
    flagged = {name for suspect in suspects for name in suspect.columns}
    numeric = [name for name in candidates if drafts[name].feature == "numeric" and name not in flagged]
    raw = frame.loc[usable, target.column].reset_index(drop=True)
    numeric_target = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    group = restating_group(rows[numeric], (raw if numeric_target else y).to_numpy(dtype=float), when)
    if group is not None:
        columns, r2 = group
        what = target.column if numeric_target else f"the label {target.name}"
        aucs = [powers.get(name, 0.5) for name in columns]
        evidence = (
            f"together they restate {what}: a linear fit of them explains {r2:.1%} of its variance out of "
            f"time (>= {GROUP_R2:.0%}); alone each predicts {target.name} with AUC "
            f"{min(aucs):.2f}..{max(aucs):.2f}"
        )
        notes = {
            name: (
                f"LEAK? with {', '.join(other for other in columns if other != name)} it restates {what} "
                f"(R² {r2:.1%} out of time); alone AUC {powers.get(name, 0.5):.2f}"
            )
            for name in columns
        }
        suspects.append(LeakSuspect(columns=tuple(columns), evidence=evidence, notes=notes))
    return LeakScreen(suspects=tuple(suspects), powers=powers)
