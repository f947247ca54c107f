"""Training: time-ordered folds on tiny series, then LightGBM on a real slice of Jan-Feb 2013."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.core.settings import TrainingSettings
from driftloop.data.batches import sample_batch
from driftloop.data.enrichment import enrich, labels
from driftloop.data.sources import SourceTables
from driftloop.modelling.features import FeatureSpec, build_features, fit_feature_spec
from driftloop.modelling.training import (
    TooFewTimes,
    TrainedModel,
    contributions,
    predict_proba,
    time_ordered_folds,
    train_model,
)

# ---- time_ordered_folds --------------------------------------------------------------------------


def _check_folds(times: pd.Series, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
    values = times.to_numpy()
    previous_train: set[int] = set()
    for train_idx, valid_idx in splits:
        assert len(train_idx) > 0 and len(valid_idx) > 0
        assert set(train_idx).isdisjoint(valid_idx)
        assert values[train_idx].max() < values[valid_idx].min()  # strictly later, so ties never straddle
        assert previous_train < set(train_idx)  # expanding window
        previous_train = set(train_idx)


def test_folds_on_shuffled_distinct_times() -> None:
    rng = np.random.default_rng(0)
    times = pd.Series(rng.permutation(12))

    splits = time_ordered_folds(times, 3)

    _check_folds(times, splits)
    assert [sorted(times[t].tolist()) for t, _ in splits] == [[0, 1, 2], list(range(6)), list(range(9))]
    assert [sorted(times[v].tolist()) for _, v in splits] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]
    for train_idx, valid_idx in splits:  # indices are sorted positions into the input
        assert train_idx.tolist() == sorted(train_idx.tolist())
        assert valid_idx.tolist() == sorted(valid_idx.tolist())


def test_each_fold_trains_on_everything_before_its_validation_block() -> None:
    times = pd.Series(np.arange(20))

    splits = time_ordered_folds(times, 4)

    for k in range(1, len(splits)):
        previous_train, previous_valid = splits[k - 1]
        assert splits[k][0].tolist() == sorted([*previous_train, *previous_valid])
    assert splits[-1][1].max() == 19  # the last block reaches the newest row


def test_ties_move_the_cut_to_the_first_row_of_the_timestamp() -> None:
    # natural cuts at 4 and 8 fall inside the runs of 2s and 3s
    times = pd.Series([1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4])

    splits = time_ordered_folds(times, 2)

    _check_folds(times, splits)
    assert sorted(set(times[splits[0][0]])) == [1]
    assert sorted(set(times[splits[0][1]])) == [2]
    assert sorted(set(times[splits[1][1]])) == [3, 4]


def test_ties_on_real_timestamps_never_straddle() -> None:
    hours = pd.date_range("2013-01-01", periods=30, freq="h", tz="UTC")
    rng = np.random.default_rng(1)
    times = pd.Series(rng.choice(hours, size=500))

    splits = time_ordered_folds(times, 4)

    _check_folds(times, splits)
    for train_idx, valid_idx in splits:
        assert set(times.iloc[train_idx]).isdisjoint(set(times.iloc[valid_idx]))


def test_one_distinct_time_is_an_error_naming_the_window() -> None:
    with pytest.raises(
        TooFewTimes, match=r"too few distinct times for 3 time-ordered folds: .* train on more"
    ):
        time_ordered_folds(pd.Series([5] * 10), 3)


def test_coarse_times_give_the_folds_their_ties_leave() -> None:
    """Four integer years and four folds: blocks of equal count merge at the year edges (it used to raise)."""
    years = pd.Series([2001] * 6 + [2002] * 2)
    [(train, valid)] = time_ordered_folds(years, 3)
    assert (train.tolist(), valid.tolist()) == ([0, 1, 2, 3, 4, 5], [6, 7])
    four = pd.Series(np.repeat([2001, 2002, 2003, 2004], 150))
    splits = time_ordered_folds(four, 4)
    assert [sorted(set(four.iloc[valid])) for _, valid in splits] == [[2002], [2003], [2004]]


# ---- train_model on a real slice -----------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    frame: pd.DataFrame
    label: pd.Series
    times: pd.Series
    spec: FeatureSpec
    features: pd.DataFrame


def _settings(seed: int = 42) -> TrainingSettings:
    with pytest.MonkeyPatch.context() as patch:  # module fixtures run before the autouse clean env
        for name in [name for name in os.environ if name.startswith("DRIFTLOOP_")]:
            patch.delenv(name)
        return TrainingSettings(max_rounds=60, cv_folds=3, num_threads=1, seed=seed)


@pytest.fixture(scope="module")
def real_slice(flights_table: pd.DataFrame, flights_contract: Contract) -> Slice:
    """~6,000 labelled rows of Jan-Feb 2013, joined with weather and planes."""
    months = flights_table[flights_table["month"].isin([1, 2])].reset_index(drop=True)
    batch = sample_batch(months, 0.12, seed=5)
    frame = enrich(batch, flights_contract, SourceTables(flights_contract).references())
    y = labels(frame, flights_contract)
    frame, y = frame.loc[y.notna()].reset_index(drop=True), y.loc[y.notna()].reset_index(drop=True)
    spec = fit_feature_spec(frame, flights_contract)
    times = pd.to_datetime(frame["time_hour"], utc=True)
    return Slice(frame, y, times, spec, build_features(frame, spec))


@pytest.fixture(scope="module")
def trained(real_slice: Slice) -> TrainedModel:
    return train_model(real_slice.features, real_slice.label, real_slice.times, real_slice.spec, _settings())


@pytest.fixture(scope="module")
def trained_again(real_slice: Slice) -> TrainedModel:
    return train_model(real_slice.features, real_slice.label, real_slice.times, real_slice.spec, _settings())


@pytest.fixture(scope="module")
def trained_other_seed(real_slice: Slice) -> TrainedModel:
    return train_model(
        real_slice.features, real_slice.label, real_slice.times, real_slice.spec, _settings(seed=7)
    )


def _trees(model_text: str) -> str:
    """The trees only: the parameters section at the end names the seed, so it differs trivially."""
    return model_text.split("end of trees")[0]


def test_real_slice_is_the_size_we_asked_for(real_slice: Slice) -> None:
    assert 5000 < len(real_slice.frame) < 7000
    assert 0.1 < real_slice.label.mean() < 0.4


def test_same_rows_settings_and_seed_give_a_byte_identical_model(
    trained: TrainedModel, trained_again: TrainedModel
) -> None:
    assert trained.model_text == trained_again.model_text
    assert trained.cv_metrics == trained_again.cv_metrics
    assert trained.gain_importance == trained_again.gain_importance


def test_a_different_seed_gives_a_different_model(
    trained: TrainedModel, trained_other_seed: TrainedModel, real_slice: Slice
) -> None:
    assert _trees(trained.model_text) != _trees(trained_other_seed.model_text)
    ours = predict_proba(trained.booster(), real_slice.features)
    theirs = predict_proba(trained_other_seed.booster(), real_slice.features)
    assert np.abs(ours - theirs).max() > 1e-6


def test_model_text_is_lightgbm_text_with_the_chosen_rounds(trained: TrainedModel, real_slice: Slice) -> None:
    booster = trained.booster()

    assert trained.model_text.startswith("tree\n")
    assert booster.num_trees() == trained.num_rounds
    assert 1 <= trained.num_rounds <= 60
    assert booster.feature_name() == real_slice.spec.names
    assert trained.params.deterministic is True
    assert trained.params.seed == 42


def test_pooled_out_of_fold_auc_shows_real_signal(trained: TrainedModel) -> None:
    assert trained.cv_metrics.auc > 0.55
    assert trained.cv_metrics.rows == sum(fold.valid_rows for fold in trained.folds)


def test_folds_are_time_ordered_and_expanding(trained: TrainedModel, real_slice: Slice) -> None:
    folds = trained.folds

    assert [fold.fold for fold in folds] == [1, 2, 3]
    train_rows = [fold.train_rows for fold in folds]
    assert train_rows == sorted(set(train_rows))  # strictly grows
    for earlier, later in itertools.pairwise(folds):
        assert later.train_rows == earlier.train_rows + earlier.valid_rows
        assert pd.Timestamp(earlier.valid_end) < pd.Timestamp(later.valid_start)
    assert folds[-1].train_rows + folds[-1].valid_rows == len(real_slice.frame) == trained.train_rows
    assert pd.Timestamp(folds[-1].valid_end) == pd.Timestamp(trained.train_end) == real_slice.times.max()
    assert pd.Timestamp(trained.train_start) == real_slice.times.min()


def test_contributions_sum_to_the_raw_score(trained: TrainedModel, real_slice: Slice) -> None:
    booster = trained.booster()
    rows = real_slice.features.iloc[:300]

    table = contributions(booster, rows)
    raw = booster.predict(rows, raw_score=True)

    assert table.columns.tolist() == [*real_slice.spec.names, "bias"]
    np.testing.assert_allclose(table.sum(axis=1).to_numpy(), raw, rtol=0, atol=1e-9)
    np.testing.assert_allclose(predict_proba(booster, rows), 1 / (1 + np.exp(-raw)), rtol=0, atol=1e-12)
    assert table.drop(columns="bias").abs().to_numpy().max() > 0  # the features do explain something


def test_gain_importance_is_a_share_per_feature(trained: TrainedModel, real_slice: Slice) -> None:
    gain = trained.gain_importance

    assert list(gain) == real_slice.spec.names
    assert sum(gain.values()) == pytest.approx(1.0)
    assert min(gain.values()) >= 0
    assert max(gain.values()) < 1  # more than one feature is used


def test_mean_contributions_cover_every_feature(trained: TrainedModel, real_slice: Slice) -> None:
    assert list(trained.mean_contributions) == real_slice.spec.names
    assert min(trained.mean_contributions.values()) >= 0
    assert sum(trained.mean_contributions.values()) > 0


def test_train_model_refuses_unlabelled_rows(real_slice: Slice) -> None:
    frame = real_slice.features.iloc[:200]
    label = real_slice.label.iloc[:200].copy()
    label.iloc[3] = np.nan

    with pytest.raises(ValueError, match="labelled rows only"):
        train_model(frame, label, real_slice.times.iloc[:200], real_slice.spec, _settings())


# ---- LightGBM fed a block of rows at a time: the same model as from the frame ------------------------


@pytest.mark.parametrize("handed_over", ["in blocks", "as one matrix"])
@pytest.mark.parametrize(
    ("seed", "rows_taken"),
    [
        (42, "two thirds, more than are sampled"),
        (7, "two thirds, more than are sampled"),
        (42, "a small fold"),
    ],
)
def test_a_model_binned_from_row_blocks_is_the_model_binned_from_the_frame(
    real_slice: Slice, monkeypatch: pytest.MonkeyPatch, seed: int, rows_taken: str, handed_over: str
) -> None:
    """`matrix_dataset` hands LightGBM the matrix in blocks (or, for few rows, as one matrix); its model must
    be byte for byte the one LightGBM makes from `build_features`' frame: small blocks here, so that many
    are cut; fewer rows sampled for the bins than there are (the sample follows the seed); and a fold so
    small that a feature that cannot split is dropped (`min_data_in_leaf`, `feature_pre_filter`)."""
    import lightgbm as lgb

    from driftloop.modelling import matrix_rows

    monkeypatch.setattr(matrix_rows, "BLOCK_ROWS", 500)
    monkeypatch.setattr(matrix_rows.MatrixRows, "batch_size", 500)
    if handed_over == "in blocks":  # as for more rows than LightGBM samples for its bins
        monkeypatch.setattr(matrix_rows, "SEQUENCE_ROWS", 0)
    features, y = real_slice.features, real_slice.label.to_numpy(dtype=float)
    features = features.assign(carrier=features["carrier"].cat.add_categories(["ZZ"]))  # a level never seen
    positions = np.arange(len(features))
    rows = positions[:800] if rows_taken == "a small fold" else positions[positions % 3 != 0]
    params = {**_settings(seed).lightgbm_params().for_lightgbm(), "bin_construct_sample_cnt": 1000}

    def fit(dataset: lgb.Dataset) -> str:
        return lgb.train(params, dataset, num_boost_round=15).model_to_string()

    from_frame = lgb.Dataset(
        features.iloc[rows], label=y[rows], categorical_feature=real_slice.spec.categorical
    )
    from_blocks = matrix_rows.matrix_dataset(features, y, real_slice.spec.categorical, rows=rows)

    assert fit(from_blocks) == fit(from_frame)
    assert "pandas_categorical:[[" in fit(from_blocks)  # the levels are recorded as from a frame


def test_predictions_a_block_at_a_time_are_the_predictions_of_the_whole(
    trained: TrainedModel, real_slice: Slice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftloop.modelling import training

    whole = predict_proba(trained.booster(), real_slice.features)
    monkeypatch.setattr(training, "PREDICT_ROWS", 1000)

    blocks = predict_proba(trained.booster(), real_slice.features)

    assert len(real_slice.features) > 5 * 1000
    np.testing.assert_array_equal(blocks, whole)
