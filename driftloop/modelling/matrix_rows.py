"""LightGBM's view of a model matrix, handed over a block of rows at a time.

Given `build_features`' frame, LightGBM first converts the whole of it to one float64 matrix, and given a
fold's rows, a copy of those rows first: at 2M training rows, 0.5 GB that live only until the data is
binned. `MatrixRows` gives LightGBM the same float64 values (categoricals as their codes, NaN where missing
or unseen, as LightGBM's own pandas conversion makes them) one block of rows at a time, so the binned
dataset and the model are the same, without either copy. LightGBM is imported here, not where a model is
only read.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

BLOCK_ROWS = 65_536  # rows converted at a time: 10 MB for twenty features
# Up to LightGBM's row sample for the bins (200,000 by default), it would read every row of a `Sequence` one
# Python call at a time (0.1-0.2 s a dataset); so few rows go as one float64 matrix (32 MB, twenty features).
SEQUENCE_ROWS = 200_000


class MatrixRows(lgb.Sequence):
    """Rows of a model matrix (all, or those at `rows`) as float64 blocks, for `lightgbm.Dataset`."""

    batch_size = BLOCK_ROWS

    def __init__(self, features: pd.DataFrame, rows: np.ndarray | None = None) -> None:
        # Each column's own array, never copied: categorical codes are converted a block at a time.
        self._columns = [
            (values.cat.codes.to_numpy(), True)
            if isinstance(values.dtype, pd.CategoricalDtype)
            else (values.to_numpy(dtype=np.float64, copy=False), False)
            for _, values in features.items()
        ]
        self._rows = np.arange(len(features)) if rows is None else np.asarray(rows)
        self._block_start = -1
        self._block = np.empty((0, len(self._columns)))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, slice):
            return self._take(self._rows[index])
        if isinstance(index, int | np.integer):
            # LightGBM samples rows one index at a time, in increasing order: convert the block once.
            start = int(index) - int(index) % BLOCK_ROWS
            if start != self._block_start:
                self._block = self._take(self._rows[start : start + BLOCK_ROWS])
                self._block_start = start
            return self._block[int(index) - start]
        raise TypeError(f"rows are taken by position or slice, not {type(index).__name__}")

    def _take(self, positions: np.ndarray) -> np.ndarray:
        block = np.empty((len(positions), len(self._columns)), dtype=np.float64)
        for position, (values, is_code) in enumerate(self._columns):
            taken = values[positions]
            block[:, position] = taken
            if is_code:
                block[taken < 0, position] = np.nan
        return block


class _RowBlockDataset(lgb.Dataset):
    """A dataset that bins a `Sequence` with every parameter it was given, as one made from a matrix does.

    LightGBM hands a `Sequence`'s row sample and bin construction only the parameters it lists as the
    dataset's own (`Dataset.get_params`); a matrix's construction gets all of them. Two of the others
    change the bins: `seed` (the rows sampled for them derive from it) and `min_data_in_leaf` (a feature
    that could never split is dropped by it, `feature_pre_filter`, which on a small fold does happen).
    """

    def get_params(self) -> dict[str, Any]:
        return dict(self.params or {})


def matrix_dataset(
    features: pd.DataFrame,
    label: np.ndarray,
    categorical: list[str],
    rows: np.ndarray | None = None,
    keep_rows: bool = True,
) -> lgb.Dataset:
    """LightGBM's dataset of `features` (the rows at `rows`, else all), binned from `MatrixRows` (a matrix
    of them when they are few).

    It bins with the training parameters and records the categories' levels as a dataset made from the
    frame itself does, so that the model text and the predictions from `build_features`' frames are the
    same. `keep_rows=False` lets it drop the rows once binned.
    """
    blocks = MatrixRows(features, rows)
    dataset = _RowBlockDataset(
        blocks if len(blocks) > SEQUENCE_ROWS else blocks[0 : len(blocks)],
        label=label if rows is None else label[rows],
        feature_name=[str(name) for name in features.columns],
        categorical_feature=categorical,
        free_raw_data=not keep_rows,
        params={"verbosity": -1},
    )
    dataset.pandas_categorical = [
        list(values.cat.categories)
        for _, values in features.items()
        if isinstance(values.dtype, pd.CategoricalDtype)
    ]
    return dataset
