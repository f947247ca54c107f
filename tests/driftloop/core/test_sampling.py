"""The one sampler: fixed seed, bounded, original order kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.sampling import sample_rows


def test_sample_rows_is_deterministic_and_bounded() -> None:
    df = pd.DataFrame({"x": np.arange(1000)}, index=np.arange(1000) * 7)

    a, b = sample_rows(df, 100, seed=3), sample_rows(df, 100, seed=3)
    other = sample_rows(df, 100, seed=4)

    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 100 and a.index.is_unique and a.index.isin(df.index).all()
    assert a.index.is_monotonic_increasing  # original (time) order kept
    assert not a.index.equals(other.index)
    assert sample_rows(df, 1000, seed=3) is df
    with pytest.raises(ValueError):
        sample_rows(df, 0, seed=3)
