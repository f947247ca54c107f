"""A training window: the validated batches of consecutive periods, read and enriched once.

Its last periods (or days) are the holdout. The challenger never trains on them, and champion,
challenger and the naive baseline are all scored on exactly those rows, from this one object. How long
the window and the holdout are comes from settings, else the contract, else the period kind's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.periods import PeriodKind, period_labels, period_range, shift_period
from driftloop.core.settings import TrainingParameters
from driftloop.core.storage import Storage
from driftloop.core.times import local_times
from driftloop.data.batches import DataVersion, read_batch
from driftloop.data.enrichment import enrich, labels


@dataclass(frozen=True)
class WindowPlan:
    """How many periods a training uses, and its holdout: the last `holdout_periods` or `holdout_days`."""

    kind: PeriodKind
    train_periods: int
    holdout_periods: int | None = None
    holdout_days: int | None = None

    def describe(self) -> str:
        held = f"{self.holdout_days} days" if self.holdout_days else f"{self.holdout_periods} {self.kind}(s)"
        return f"{self.train_periods} {self.kind}s of history, the last {held} held out"


# Defaults that suit each period: enough rows to train, a holdout recent enough to judge on.
DEFAULT_WINDOWS: dict[PeriodKind, WindowPlan] = {
    "day": WindowPlan(kind="day", train_periods=56, holdout_periods=7),
    "week": WindowPlan(kind="week", train_periods=26, holdout_periods=4),
    "month": WindowPlan(kind="month", train_periods=3, holdout_days=14),
    "quarter": WindowPlan(kind="quarter", train_periods=8, holdout_periods=1),
    "year": WindowPlan(kind="year", train_periods=5, holdout_periods=1),
}


def resolve_windows(contract: Contract, settings: TrainingParameters) -> WindowPlan:
    """Settings win over the contract, the contract over the period kind's default."""
    default = DEFAULT_WINDOWS[contract.time.period]
    declared = contract.windows
    train = settings.window_periods or declared.train_periods or default.train_periods
    for source in (settings, declared):
        if source.holdout_days or source.holdout_periods:
            return WindowPlan(
                kind=default.kind,
                train_periods=train,
                holdout_periods=None if source.holdout_days else source.holdout_periods,
                holdout_days=source.holdout_days,
            )
    return WindowPlan(
        kind=default.kind,
        train_periods=train,
        holdout_periods=default.holdout_periods,
        holdout_days=default.holdout_days,
    )


@dataclass(frozen=True)
class TrainingWindow:
    """Enriched, labelled rows of a window of periods, split once into training rows and the holdout.

    Only the columns a model reads are kept (`window_columns`): a window is the largest thing a training
    holds, and the contract's other columns (ids, outcomes that leak, parts of the date) are a third of it.
    """

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


def concat_freeing(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """`pd.concat(frames, ignore_index=True)` a column at a time, each frame's column dropped once copied:
    the window is held about once while it is put together, not twice. `frames` are emptied."""
    if not frames:
        raise ValueError("a window needs at least one batch")
    names = list(dict.fromkeys(name for frame in frames for name in frame.columns))
    columns = {}
    for name in names:
        parts = [
            frame.pop(name) if name in frame.columns else pd.Series(np.nan, index=frame.index)
            for frame in frames
        ]
        columns[name] = pd.concat(parts, ignore_index=True)
        del parts
    return pd.DataFrame(columns, index=pd.RangeIndex(sum(len(frame) for frame in frames)), copy=False)


def window_columns(contract: Contract) -> list[str]:
    """What a model reads of a window: its features' own columns, the time column and the target."""
    features = [feature.name for feature in contract.features if feature.derive is None]
    return list(dict.fromkeys([*features, contract.time.column, contract.target.column]))


def _read_columns(contract: Contract) -> list[str]:
    """What is read of a stored batch to make its window columns: those, and the joins' keys."""
    keys = [key for join in contract.joins for key in join.using]
    return list(dict.fromkeys([*window_columns(contract), *keys]))


def _training_rows_first(
    frame: pd.DataFrame, label: pd.Series, times: pd.Series, holdout: np.ndarray
) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray]:
    """The training rows, then the holdout rows, each in the order they came (a stable partition): what
    each set holds and its order are unchanged, and the training rows' numbers go into the model matrix
    as views of the window's columns (`build_features`), not a second copy. A column at a time."""
    training = int((~holdout).sum())
    if not holdout[:training].any():
        return frame, label, times, holdout  # already so (a holdout of the last days of a sorted source)
    order = np.concatenate([np.flatnonzero(~holdout), np.flatnonzero(holdout)])
    index = pd.RangeIndex(len(order))
    columns = {}
    for name in list(frame.columns):
        columns[name] = pd.Series(frame.pop(name).array.take(order), index=index, name=name)
    label = pd.Series(label.array.take(order), index=index, name=label.name)
    times = pd.Series(times.array.take(order), index=index, name=times.name)
    return pd.DataFrame(columns, index=index, copy=False), label, times, holdout[order]


def window_periods(as_of: str, count: int, kind: PeriodKind) -> list[str]:
    """The `count` periods ending at `as_of`."""
    return period_range(shift_period(as_of, -(count - 1), kind), as_of, kind)


def load_window(
    storage: Storage,
    contract: Contract,
    periods: list[str],
    versions: list[DataVersion],
    tables: dict[str, pd.DataFrame],
    plan: WindowPlan,
    enriched: Mapping[str, pd.DataFrame] | None = None,
) -> TrainingWindow:
    """Read `versions` once, enrich them once, keep labelled rows and cut the holdout.

    Args:
        storage: the store holding the data versions.
        contract: label, time column and joins.
        periods: the window's periods; those without a version are named in `missing_periods`.
        versions: the validated data versions to train on.
        tables: reference tables for the joins.
        plan: how the holdout is cut (the last periods or days of the window).
        enriched: batches already enriched in memory, by data version SHA-256: used instead of a read.

    Returns:
        The window with its holdout mask.
    """
    known = enriched or {}
    wanted, read = window_columns(contract), _read_columns(contract)
    labelled = []  # each batch's labelled rows, its window columns only (the caller's frames are not touched)
    for version in versions:
        batch = known.get(version.sha256)
        if batch is None:
            batch = enrich(read_batch(storage, version, read), contract, tables)
        # The columns' own arrays, not a copy of them (nor of the batch).
        batch = pd.DataFrame({name: batch[name] for name in wanted if name in batch.columns}, copy=False)
        keep = labels(batch, contract).notna().to_numpy()
        labelled.append(batch if keep.all() else batch.loc[keep])
    frame = concat_freeing(labelled)
    label = labels(frame, contract)
    times = local_times(frame, contract.time.column, contract.time.timezone, contract.time.format)
    if plan.holdout_days is not None:
        cutoff = times.max().normalize() - pd.Timedelta(days=plan.holdout_days - 1)
        holdout = (times >= cutoff).to_numpy()
    else:
        held = set(periods[-(plan.holdout_periods or 1) :])
        holdout = period_labels(times, plan.kind).isin(held).to_numpy()
    if holdout.all() or not holdout.any():
        raise ValueError(
            f"{plan.describe()} leaves no training rows or no holdout rows in {periods[0]}..{periods[-1]}"
        )
    frame, label, times, holdout = _training_rows_first(frame, label, times, holdout)
    covered = {version.period for version in versions}
    return TrainingWindow(
        frame=frame,
        label=label,
        times=times,
        versions=tuple(versions),
        periods=tuple(periods),
        missing_periods=tuple(period for period in periods if period not in covered),
        holdout=holdout,
    )
