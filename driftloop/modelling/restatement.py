"""Columns that together restate the value a label is cut from: a linear fit of them explains nearly all of
its variance, out of time, while each alone is weak (a histogram or a decomposition of the very score the
label is a threshold of). `driftloop contract init` marks such a group in a draft; the group leakage check
blocks a challenger that leans on one.

Least squares of the target on the columns, fit on the first 80% of the rows by time and judged on the last
20% (as `single_feature_power` splits), columns added greedily (the one raising R² most first, at most
`MAX_GROUP`), then pruned to the fewest that still explain `GROUP_R2` of the variance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP_R2 = 0.95  # columns that together explain this share of the target's variance restate it
MAX_GROUP = 8  # the most columns the search adds
_MIN_GAIN = 0.002  # the search stops when the best column adds less R² than this
_FIT_SHARE = 0.8
_MIN_ROWS = 20


def restating_group(
    numbers: pd.DataFrame, target: np.ndarray, times: pd.Series
) -> tuple[list[str], float] | None:
    """The fewest columns of `numbers` that together explain `GROUP_R2` of `target`'s variance out of time,
    and the R² they reach; None when no group does (see the module docstring)."""
    known = np.isfinite(target)
    if numbers.shape[1] == 0 or known.sum() < _MIN_ROWS:
        return None
    order = times.reset_index(drop=True).argsort(kind="stable").to_numpy()
    fit = np.zeros(len(target), dtype=bool)
    fit[order[: int(len(order) * _FIT_SHARE)]] = True
    x = numbers.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        means = np.nanmean(np.where(fit[:, None], x, np.nan), axis=0)
    x = np.where(np.isnan(x), means, x)  # a missing value at the fit rows' mean
    scale = x[fit].std(axis=0)
    keep = np.isfinite(scale) & (scale > 0)
    names = [str(name) for name, kept in zip(numbers.columns, keep, strict=True) if kept]
    design = np.column_stack([np.ones(len(x)), (x[:, keep] - means[keep]) / scale[keep]])
    train, test = fit & known, ~fit & known
    y_test = target[test]
    total = float(((y_test - y_test.mean()) ** 2).sum()) if len(y_test) else 0.0
    if total <= 0 or len(y_test) < _MIN_ROWS // 2:
        return None
    gram, cross = design[train].T @ design[train], design[train].T @ target[train]
    gram_test, cross_test = design[test].T @ design[test], design[test].T @ y_test
    squares = float(y_test @ y_test)

    def r2(chosen: list[int]) -> float:
        index = [0, *(position + 1 for position in chosen)]
        beta = np.linalg.lstsq(gram[np.ix_(index, index)], cross[index], rcond=None)[0]
        error = squares - 2 * beta @ cross_test[index] + beta @ gram_test[np.ix_(index, index)] @ beta
        return 1.0 - float(error) / total

    chosen: list[int] = []
    best = 0.0
    while len(chosen) < min(MAX_GROUP, len(names)) and best < GROUP_R2:
        scores = {j: r2([*chosen, j]) for j in range(len(names)) if j not in chosen}
        pick = max(scores, key=lambda j: scores[j])
        if scores[pick] - best < _MIN_GAIN:
            break
        chosen.append(pick)
        best = scores[pick]
    if best < GROUP_R2:
        return None
    for j in list(chosen):  # the fewest: drop any column the others do without
        rest = [other for other in chosen if other != j]
        if rest and r2(rest) >= GROUP_R2:
            chosen = rest
    return sorted(names[j] for j in chosen), r2(chosen)
