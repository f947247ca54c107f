"""Settings: read from DRIFTLOOP_* once; Prefect defaults are only defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftloop.settings import Settings, TrainingSettings, prefect_environment


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
    assert params["deterministic"] is True and params["force_row_wise"] is True
    assert params["seed"] == 3 and params["feature_fraction_seed"] == 3


def test_prefect_environment_sets_defaults_but_never_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "PREFECT_HOME",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")  # the user's choice stands
    monkeypatch.setenv("DRIFTLOOP_STORAGE_URL", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)

    prefect_environment(Settings.load())

    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert Path(os.environ["PREFECT_HOME"]) == tmp_path / ".driftloop" / "prefect"
    assert Path(os.environ["PREFECT_HOME"]).is_dir()  # Prefect itself only makes the last level
    assert Path(os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"]) == tmp_path / "store" / "_prefect_results"
    assert os.environ["PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"] == "WARNING"


def test_prefect_environment_leaves_results_alone_for_s3_stores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PREFECT_RESULTS_LOCAL_STORAGE_PATH", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DRIFTLOOP_STORAGE_URL", "s3://bucket/prefix")
    prefect_environment(Settings.load())
    assert "PREFECT_RESULTS_LOCAL_STORAGE_PATH" not in os.environ
