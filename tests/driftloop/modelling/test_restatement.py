"""A group of columns restating the score a label is cut from is found; honest related columns are not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.modelling.restatement import restating_group


def _rows(seed: int = 3, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    rng = np.random.default_rng(seed)
    parts = rng.normal(size=(n, 4))
    score = parts.sum(axis=1) + rng.normal(scale=0.1, size=n)
    frame = pd.DataFrame(parts + rng.normal(scale=0.05, size=(n, 4)), columns=["p1", "p2", "p3", "p4"])
    frame["related"] = 0.5 * score + rng.normal(scale=1.5, size=n)  # informative, but not the score
    frame["noise"] = rng.normal(size=n)
    return frame, score, pd.Series(pd.date_range("2013-01-01", periods=n, freq="h"))


def test_the_parts_of_the_score_are_named_and_nothing_else() -> None:
    frame, score, times = _rows()
    found = restating_group(frame, score, times)
    assert found is not None
    columns, r2 = found
    assert columns == ["p1", "p2", "p3", "p4"] and r2 > 0.99


def test_honest_columns_do_not_restate_the_score() -> None:
    frame, score, times = _rows()
    assert restating_group(frame[["related", "noise", "p1"]], score, times) is None
