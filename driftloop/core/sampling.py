"""The one row sampler: fixed-seed, order-keeping, so two identical runs see the same rows.

It samples positions, so a caller can take the sampled rows of something too large to copy whole
(`FrameRows`: a training window in time order with its predictions, never materialized).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd


def sample_positions(count: int, n: int, seed: int) -> np.ndarray:
    """The positions `sample_rows` keeps of `count` rows: all of them, or `n` chosen by `seed`, in order."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if count <= n:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=n, replace=False))


def sample_rows(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most `n` rows of `df`, chosen without replacement by `seed`, in their original order.

    Bounds the rows Evidently and explanations see (1M vs 1M rows takes minutes) without losing
    repeatability; keeping the order lets by-index plots still read as time.

    Args:
        df: The frame to sample.
        n: Maximum number of rows to keep; must be positive.
        seed: Seed of the sample; same `df`, `n`, `seed` give the same rows.

    Returns:
        `df` itself when it has at most `n` rows, else `n` rows of it.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if len(df) <= n:
        return df
    return df.iloc[sample_positions(len(df), n, seed)]


class Rows(Protocol):
    """Rows that are taken by position, a few at a time, rather than held as one frame."""

    def __len__(self) -> int: ...

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        """The rows at these positions, as a frame."""
        ...


@dataclass(frozen=True)
class FrameRows:
    """A frame's rows in `order` (default: as they are), with `extra` columns beside them; a taken row is
    copied, the rest never is."""

    frame: pd.DataFrame
    order: np.ndarray | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, positions: np.ndarray) -> pd.DataFrame:
        rows = self.order[positions] if self.order is not None else positions
        taken = self.frame.iloc[rows]
        return (
            taken.assign(**{name: values[rows] for name, values in self.extra.items()})
            if self.extra
            else taken
        )

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """`sample_rows` of the rows in this order, without copying the rest."""
        return self.take(sample_positions(len(self), n, seed))
