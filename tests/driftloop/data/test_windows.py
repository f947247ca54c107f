"""Training windows: resolved from settings, contract and period defaults; read once; the holdout cut once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract, WindowSpec
from driftloop.core.settings import TrainingSettings
from driftloop.core.storage import LocalStorage, ObservedStorage
from driftloop.core.times import local_times
from driftloop.data.batches import cut_period, read_batch, sample_batch, store_batch
from driftloop.data.enrichment import enrich, labels
from driftloop.data.sources import SourceTables
from driftloop.data.windows import (
    TrainingWindow,
    WindowPlan,
    concat_freeing,
    load_window,
    resolve_windows,
    window_columns,
    window_periods,
)
from driftloop.modelling.features import build_features, fit_feature_spec


def test_settings_win_over_the_contract_which_wins_over_the_period_default(
    flights_contract: Contract,
) -> None:
    default = resolve_windows(flights_contract, TrainingSettings())
    assert default == WindowPlan(kind="month", train_periods=3, holdout_days=14)

    declared = flights_contract.model_copy(update={"windows": WindowSpec(train_periods=6, holdout_periods=1)})
    assert resolve_windows(declared, TrainingSettings()) == WindowPlan(
        kind="month", train_periods=6, holdout_periods=1
    )
    overridden = resolve_windows(declared, TrainingSettings(window_periods=2, holdout_days=7))
    assert overridden == WindowPlan(kind="month", train_periods=2, holdout_days=7)

    weekly = flights_contract.model_copy(
        update={"time": flights_contract.time.model_copy(update={"period": "week"})}
    )
    assert resolve_windows(weekly, TrainingSettings()) == WindowPlan(
        kind="week", train_periods=26, holdout_periods=4
    )


def test_window_periods_count_back_from_as_of() -> None:
    assert window_periods("2013-03", 3, "month") == ["2013-01", "2013-02", "2013-03"]
    assert window_periods("2013-W02", 3, "week") == ["2012-W52", "2013-W01", "2013-W02"]


@pytest.fixture(scope="module")
def tables(slice_contract: Contract) -> dict[str, pd.DataFrame]:
    return SourceTables(slice_contract).references()


@pytest.fixture(scope="module")
def stored(
    flights_table: pd.DataFrame, slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ObservedStorage, list]:
    store = ObservedStorage(LocalStorage(tmp_path_factory.mktemp("store")))
    versions = [
        store_batch(
            store, "flights", month, sample_batch(cut_period(flights_table, slice_contract, month), 0.08, 13)
        )
        for month in ("2013-01", "2013-03")
    ]
    return store, versions


def _first_quarter(
    stored: tuple[ObservedStorage, list],
    contract: Contract,
    tables: dict[str, pd.DataFrame],
    plan: WindowPlan,
) -> TrainingWindow:
    store, versions = stored
    return load_window(store, contract, ["2013-01", "2013-02", "2013-03"], versions, tables, plan)


def test_a_window_reads_each_batch_once_and_names_the_missing_period(
    stored: tuple[ObservedStorage, list], slice_contract: Contract, tables: dict[str, pd.DataFrame]
) -> None:
    store, versions = stored
    before = store.reads_under("data/")
    plan = WindowPlan(kind="month", train_periods=3, holdout_days=14)

    window = load_window(store, slice_contract, ["2013-01", "2013-02", "2013-03"], versions, tables, plan)

    assert store.reads_under("data/") - before == 2
    assert window.missing_periods == ("2013-02",)
    assert window.label.notna().all() and len(window.frame) == len(window.label) == len(window.times)
    held = window.times[window.holdout]
    assert held.min() >= pd.Timestamp("2013-03-18", tz="America/New_York")  # the last 14 days of March
    assert window.times[~window.holdout].max() < held.min()
    assert len(window.train_frame) + int(window.holdout.sum()) == len(window.frame)


def test_a_holdout_in_periods_is_the_last_periods(
    stored: tuple[ObservedStorage, list], slice_contract: Contract, tables: dict[str, pd.DataFrame]
) -> None:
    window = _first_quarter(stored, slice_contract, tables, WindowPlan("month", 3, holdout_periods=1))
    months = window.times.dt.month
    assert set(months[window.holdout]) == {3} and set(months[~window.holdout]) == {1}


def test_a_holdout_that_swallows_the_window_is_refused(
    stored: tuple[ObservedStorage, list], slice_contract: Contract, tables: dict[str, pd.DataFrame]
) -> None:
    store, versions = stored
    plan = WindowPlan(kind="month", train_periods=1, holdout_periods=1)
    with pytest.raises(ValueError, match=r"leaves no training rows or no holdout rows in 2013-03\.\.2013-03"):
        load_window(store, slice_contract, ["2013-03"], versions[1:], tables, plan)


def test_a_window_put_together_column_by_column_is_pandas_concat() -> None:
    """The same frame as `pd.concat(..., ignore_index=True)`: dtypes widened alike, a column one batch
    lacks filled with NaN, the batches' own index ignored."""
    first = pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5], "t": ["a", "b"]}, index=[7, 3])
    second = pd.DataFrame({"n": [3.5], "t": ["c"], "extra": [True]}, index=[0])
    expected = pd.concat([first, second], ignore_index=True)

    frames = [first.copy(deep=False), second.copy(deep=False)]
    got = concat_freeing(frames)

    pd.testing.assert_frame_equal(got, expected)
    assert got["n"].dtype == np.float64 and got["extra"].dtype == object
    assert [list(frame.columns) for frame in frames] == [[], []]  # each column dropped once copied
    assert list(first.columns) == ["n", "x", "t"]  # the caller's frames untouched


def test_a_window_keeps_the_columns_a_model_reads_its_training_rows_first_each_set_in_its_order(
    flights_table: pd.DataFrame,
    slice_contract: Contract,
    tables: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A source not in time order: the holdout's rows (the last 14 days) are spread through March's batch."""
    store = LocalStorage(tmp_path_factory.mktemp("shuffled"))
    march = sample_batch(cut_period(flights_table, slice_contract, "2013-03"), 0.08, 13)
    versions = [store_batch(store, "flights", "2013-03", march.sample(frac=1, random_state=3))]
    plan = WindowPlan(kind="month", train_periods=1, holdout_days=14)
    window = load_window(store, slice_contract, ["2013-03"], versions, tables, plan)
    # What the batch gives read whole, in its order: the rows each set holds, and their order.
    whole = enrich(read_batch(store, versions[0]), slice_contract, tables)
    whole = whole[labels(whole, slice_contract).notna()].reset_index(drop=True)
    cutoff = pd.Timestamp("2013-03-18", tz="America/New_York")
    held = (local_times(whole, "time_hour", "America/New_York") >= cutoff).to_numpy()
    assert held[: (~held).sum()].any(), "the holdout's rows are all last already: nothing to put in order"

    assert list(window.frame.columns) == window_columns(slice_contract)
    assert {"dep_delay", "arr_time", "tailnum", "flight", "year"}.isdisjoint(window.frame.columns)
    assert list(window.holdout) == sorted(window.holdout)  # the training rows, then the holdout's
    for mine, theirs in ((window.train_frame, whole[~held]), (window.holdout_frame, whole[held])):
        expected = theirs[window.frame.columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), expected)
    pd.testing.assert_series_equal(
        window.train_label, labels(whole[~held], slice_contract), check_index=False
    )


def test_the_training_matrix_reads_the_windows_float64_columns_without_a_copy(
    stored: tuple[ObservedStorage, list], slice_contract: Contract, tables: dict[str, pd.DataFrame]
) -> None:
    window = _first_quarter(stored, slice_contract, tables, WindowPlan("month", 3, holdout_days=14))
    spec = fit_feature_spec(window.train_frame, slice_contract)

    matrix = build_features(window.frame, spec, rows=~window.holdout)

    pd.testing.assert_frame_equal(matrix, build_features(window.train_frame, spec))
    assert np.shares_memory(matrix["temp"].to_numpy(), window.frame["temp"].to_numpy())
    assert window.frame["distance"].dtype == np.int64  # an int column is converted: a copy
    assert not np.shares_memory(matrix["distance"].to_numpy(), window.frame["distance"].to_numpy())
