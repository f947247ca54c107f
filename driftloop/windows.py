"""A training window: the validated batches of consecutive periods, read and enriched once.

Its last `holdout_days` days are the holdout. The challenger never trains on them, and champion,
challenger and the naive baseline are all scored on exactly those rows, from this one object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftloop.batches import DataVersion, read_batch
from driftloop.contract import Contract
from driftloop.enrichment import enrich, labels
from driftloop.periods import PeriodKind, period_range, shift_period
from driftloop.storage import Storage
from driftloop.times import local_times


@dataclass(frozen=True)
class TrainingWindow:
    """Enriched, labelled rows of a window of periods, split once into training rows and the holdout."""

    frame: pd.DataFrame
    label: pd.Series
    times: pd.Series
    versions: tuple[DataVersion, ...]
    periods: tuple[str, ...]
    missing_periods: tuple[str, ...]  # periods of the window with no validated batch (e.g. quarantined)
    holdout: np.ndarray  # boolean mask of the holdout rows

    @property
    def train_frame(self) -> pd.DataFrame:
        return self.frame.loc[~self.holdout].reset_index(drop=True)

    @property
    def train_label(self) -> pd.Series:
        return self.label[~self.holdout].reset_index(drop=True)

    @property
    def train_times(self) -> pd.Series:
        return self.times[~self.holdout].reset_index(drop=True)

    @property
    def holdout_frame(self) -> pd.DataFrame:
        return self.frame.loc[self.holdout]

    @property
    def holdout_label(self) -> np.ndarray:
        return self.label[self.holdout].to_numpy()

    @property
    def holdout_start(self) -> pd.Timestamp:
        return self.times[self.holdout].min()


def window_periods(as_of: str, count: int, kind: PeriodKind) -> list[str]:
    """The `count` periods ending at `as_of`."""
    return period_range(shift_period(as_of, -(count - 1), kind), as_of, kind)


def load_window(
    storage: Storage,
    contract: Contract,
    periods: list[str],
    versions: list[DataVersion],
    tables: dict[str, pd.DataFrame],
    holdout_days: int,
) -> TrainingWindow:
    """Read `versions` once, enrich them once, keep labelled rows and cut the holdout.

    Args:
        storage: the store holding the data versions.
        contract: label, time column and joins.
        periods: the window's periods; those without a version are named in `missing_periods`.
        versions: the validated data versions to train on.
        tables: reference tables for the joins.
        holdout_days: the most recent days kept out of training.

    Returns:
        The window with its holdout mask.
    """
    frame = pd.concat([read_batch(storage, version) for version in versions], ignore_index=True)
    frame = enrich(frame, contract, tables)
    label = labels(frame, contract)
    keep = label.notna().to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    times = local_times(frame, contract.time.column, contract.time.timezone)
    cutoff = times.max().normalize() - pd.Timedelta(days=holdout_days - 1)
    holdout = (times >= cutoff).to_numpy()
    if holdout.all() or not holdout.any():
        raise ValueError(f"a {holdout_days}-day holdout leaves no training rows or no holdout rows")
    covered = {version.period for version in versions}
    return TrainingWindow(
        frame=frame,
        label=label[keep].reset_index(drop=True),
        times=times,
        versions=tuple(versions),
        periods=tuple(periods),
        missing_periods=tuple(period for period in periods if period not in covered),
        holdout=holdout,
    )
