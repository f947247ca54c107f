"""Settings: read from DRIFTLOOP_* once, one class per concern, command-line overrides applied once."""

from __future__ import annotations

import os

import pytest

from driftloop.core.settings import Settings, TrainingSettings


def test_each_concern_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_TRAIN_SEED", "7")
    monkeypatch.setenv("DRIFTLOOP_DRIFT_SHARE_THRESHOLD", "0.25")
    monkeypatch.setenv("DRIFTLOOP_STORAGE_URL", "s3://bucket/prefix")
    settings = Settings.load()
    assert settings.training.seed == 7
    assert settings.drift.share_threshold == 0.25
    assert settings.storage.url == "s3://bucket/prefix"
    assert settings.promotion.metric == "auc"  # untouched concern keeps its default


def test_invalid_values_are_refused_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_TRAIN_CV_FOLDS", "1")
    with pytest.raises(ValueError, match="cv_folds"):
        TrainingSettings()


def test_lightgbm_params_are_the_reproducible_ones() -> None:
    params = TrainingSettings(seed=3).lightgbm_params()
    assert params.deterministic is True and params.force_row_wise is True
    assert params.seed == 3 and params.feature_fraction_seed == 3


def test_load_applies_store_and_contract_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_STORAGE_URL", "s3://from-env/prefix")
    monkeypatch.setenv("DRIFTLOOP_DATA_CONTRACT", "from-env.yaml")
    monkeypatch.setenv("DRIFTLOOP_DATA_SAMPLE_FRACTION", "0.5")
    settings = Settings.load(store="/tmp/override", contract="override.yaml")
    assert (settings.storage.url, settings.data.contract) == ("/tmp/override", "override.yaml")
    assert settings.data.sample_fraction == 0.5  # the rest of the concern still comes from the environment


def test_loading_settings_writes_no_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    before = dict(os.environ)
    Settings.load(store="/tmp/x")
    assert dict(os.environ) == before
