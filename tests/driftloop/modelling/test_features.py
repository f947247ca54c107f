"""The feature function: fixed levels, unseen -> NaN, local calendar features, independent of the batch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from driftloop.core.contract import Contract
from driftloop.core.records import Record
from driftloop.data.enrichment import enrich
from driftloop.data.sources import SourceTables
from driftloop.modelling.features import (
    FEATURE_CODE_VERSION,
    FeatureColumn,
    FeatureEncoder,
    FeatureSpec,
    build_features,
    factorize,
    fit_feature_spec,
)
from tests.driftloop.conftest import tiny_contract as build


def tiny_contract(extra_features: list[dict] | None = None) -> Contract:
    columns = {"carrier": {"type": "string"}, "distance": {"type": "int"}, "month": {"type": "int"}}
    features = [
        {"name": "carrier", "kind": "categorical"},
        {"name": "distance", "kind": "numeric"},
        {"name": "day_of_week", "kind": "categorical", "derive": "day_of_week"},
        *(extra_features or []),
    ]
    return build(columns, features)


@pytest.fixture()
def training() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time_hour": [
                "2013-01-07T03:00:00Z",  # Mon 03:00 UTC = Sun Jan 6 22:00 in New York -> "6"
                "2013-01-07T15:00:00Z",  # Mon 10:00 local -> "0"
                "2013-01-09T12:00:00Z",  # Wed -> "2"
                "2013-01-09T13:00:00Z",
            ],
            "carrier": ["UA", "AA", "DL", "AA"],
            "distance": [1400, 200, 733, 200],
            "month": [1, 1, 2, 2],
            "arr_delay": [20.0, -3.0, np.nan, 5.0],
        }
    )


@pytest.fixture()
def spec(training: pd.DataFrame) -> FeatureSpec:
    return fit_feature_spec(training, tiny_contract())


def test_spec_freezes_sorted_levels_and_contract_identity(spec: FeatureSpec) -> None:
    contract = tiny_contract()

    assert spec.names == ["carrier", "distance", "day_of_week"]
    assert spec.numeric == ["distance"]
    assert spec.categorical == ["carrier", "day_of_week"]
    assert spec.columns[0].categories == ("AA", "DL", "UA")
    assert spec.columns[2].categories == ("0", "2", "6")  # local Sunday, not UTC Monday twice
    assert spec.columns[1].categories == ()
    assert spec.timezone == "America/New_York"
    assert spec.contract_fingerprint == contract.fingerprint
    assert spec.code_version == FEATURE_CODE_VERSION


def test_fit_ignores_missing_values_as_levels(training: pd.DataFrame) -> None:
    training.loc[1, "carrier"] = None

    spec = fit_feature_spec(training, tiny_contract())

    assert spec.columns[0].categories == ("AA", "DL", "UA")  # no "None"/"nan" level


def test_build_features_types_and_values(training: pd.DataFrame, spec: FeatureSpec) -> None:
    matrix = build_features(training.assign(extra=1), spec)

    assert matrix.columns.tolist() == ["carrier", "distance", "day_of_week"]
    assert matrix.index.tolist() == training.index.tolist()
    assert matrix["distance"].dtype == np.float64
    assert matrix["distance"].tolist() == [1400.0, 200.0, 733.0, 200.0]
    assert isinstance(matrix["carrier"].dtype, pd.CategoricalDtype)
    assert matrix["carrier"].cat.categories.tolist() == ["AA", "DL", "UA"]
    assert matrix["carrier"].cat.codes.tolist() == [2, 0, 1, 0]
    assert matrix["day_of_week"].tolist() == ["6", "0", "2", "2"]


def test_unseen_category_becomes_nan_not_a_new_level(spec: FeatureSpec) -> None:
    scoring = pd.DataFrame(
        {"time_hour": ["2013-03-01T12:00:00Z", "2013-03-01T12:00:00Z", "2013-03-02T12:00:00Z"],
         "carrier": ["ZZ", "UA", None], "distance": [10, 20, 30]}
    )  # fmt: skip

    matrix = build_features(scoring, spec)

    assert matrix["carrier"].cat.categories.tolist() == ["AA", "DL", "UA"]
    assert matrix["carrier"].isna().tolist() == [True, False, True]
    assert matrix["carrier"].cat.codes.tolist() == [-1, 2, -1]
    # Friday Mar 1 and Saturday Mar 2 were never seen in training: NaN, the levels stay 0/2/6
    assert matrix["day_of_week"].cat.categories.tolist() == ["0", "2", "6"]
    assert matrix["day_of_week"].isna().all()


def test_numeric_garbage_becomes_nan(spec: FeatureSpec) -> None:
    scoring = pd.DataFrame({"time_hour": ["2013-01-07T15:00:00Z"] * 2, "carrier": ["AA"] * 2,
                            "distance": ["12", "far"]})  # fmt: skip

    matrix = build_features(scoring, spec)

    assert matrix["distance"].dtype == np.float64
    np.testing.assert_array_equal(matrix["distance"].to_numpy(), [12.0, np.nan])


def test_missing_feature_column_is_named(training: pd.DataFrame, spec: FeatureSpec) -> None:
    with pytest.raises(KeyError, match="distance"):
        build_features(training.drop(columns="distance"), spec)


def test_spec_json_round_trip(spec: FeatureSpec) -> None:
    text = spec.to_json()
    again = FeatureSpec.from_json(text)

    assert again == spec
    assert again.fingerprint == spec.fingerprint
    assert again.to_json() == text


# A spec file as the dataclass FeatureSpec wrote it, byte for byte (non-ASCII escaped, keys sorted):
# its SHA-256 is the `feature_spec_sha256` of the model's lineage, and the name of its registry blob.
SPEC_WRITTEN_BY_THE_DATACLASS = r"""{
  "code_version": "features-v1",
  "columns": [
    {
      "categories": [],
      "derive": null,
      "kind": "numeric",
      "name": "distance"
    },
    {
      "categories": [
        "BQN",
        "Z\u00fcrich"
      ],
      "derive": null,
      "kind": "categorical",
      "name": "dest"
    },
    {
      "categories": [
        "0",
        "6"
      ],
      "derive": "day_of_week",
      "kind": "categorical",
      "name": "day_of_week"
    }
  ],
  "contract_fingerprint": "abababababababababababababababababababababababababababababababab",
  "contract_name": "tiny",
  "time_column": "time_hour",
  "time_format": "%Y-%m-%d %H:%M",
  "timezone": "America/New_York"
}"""
SPEC_WRITTEN_BY_THE_DATACLASS_SHA256 = "41e7424f404dbeb218da307248d29766468082610e30c3532252ddc4dfc02513"


@dataclass(frozen=True)
class DataclassColumn:
    """FeatureColumn as it was before it became a Record."""

    name: str
    kind: str
    derive: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataclassSpec:
    """FeatureSpec as it was before it became a Record, with the `to_json` that wrote every stored spec."""

    columns: tuple[DataclassColumn, ...]
    time_column: str
    timezone: str
    contract_name: str
    contract_fingerprint: str
    code_version: str = FEATURE_CODE_VERSION
    time_format: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2)


def written_by_the_dataclass(spec: FeatureSpec) -> str:
    columns = tuple(
        DataclassColumn(name=c.name, kind=c.kind, derive=c.derive, categories=c.categories)
        for c in spec.columns
    )
    return DataclassSpec(
        columns=columns,
        time_column=spec.time_column,
        timezone=spec.timezone,
        contract_name=spec.contract_name,
        contract_fingerprint=spec.contract_fingerprint,
        code_version=spec.code_version,
        time_format=spec.time_format,
    ).to_json()


def test_spec_json_is_byte_for_byte_what_the_dataclass_wrote(spec: FeatureSpec) -> None:
    """The spec's SHA-256 is in every lineage: `driftloop reproduce` and the golden replay compare it."""
    spelled_out = FeatureSpec(
        columns=(
            FeatureColumn(name="distance", kind="numeric"),
            FeatureColumn(name="dest", kind="categorical", categories=("BQN", "Zürich")),
            FeatureColumn(
                name="day_of_week", kind="categorical", derive="day_of_week", categories=("0", "6")
            ),
        ),
        time_column="time_hour",
        timezone="America/New_York",
        time_format="%Y-%m-%d %H:%M",
        contract_name="tiny",
        contract_fingerprint="ab" * 32,
    )

    assert spec.to_json() == written_by_the_dataclass(spec)
    assert spelled_out.to_json() == written_by_the_dataclass(spelled_out) == SPEC_WRITTEN_BY_THE_DATACLASS
    assert spelled_out.fingerprint == SPEC_WRITTEN_BY_THE_DATACLASS_SHA256


def test_a_spec_file_the_dataclass_wrote_loads_and_writes_the_same_bytes() -> None:
    loaded = FeatureSpec.from_json(SPEC_WRITTEN_BY_THE_DATACLASS)

    assert loaded.to_json() == SPEC_WRITTEN_BY_THE_DATACLASS
    assert loaded.fingerprint == SPEC_WRITTEN_BY_THE_DATACLASS_SHA256
    assert hashlib.sha256(SPEC_WRITTEN_BY_THE_DATACLASS.encode()).hexdigest() == loaded.fingerprint
    assert loaded.names == ["distance", "dest", "day_of_week"]
    assert (loaded.numeric, loaded.categorical) == (["distance"], ["dest", "day_of_week"])
    assert loaded.columns[1].categories == ("BQN", "Zürich") and loaded.columns[2].derive == "day_of_week"
    assert loaded.time_format == "%Y-%m-%d %H:%M" and loaded.code_version == "features-v1"


def test_a_spec_file_from_before_time_format_loads_as_the_dataclass_read_it() -> None:
    """Specs written before `time.format` existed have no `time_format` key; it reads as None."""
    older = SPEC_WRITTEN_BY_THE_DATACLASS.replace('  "time_format": "%Y-%m-%d %H:%M",\n', "")
    assert "time_format" not in older

    loaded = FeatureSpec.from_json(older)

    assert loaded.time_format is None
    assert loaded.to_json() == written_by_the_dataclass(loaded)  # null, as the dataclass wrote it back
    assert loaded.to_json() == SPEC_WRITTEN_BY_THE_DATACLASS.replace('"%Y-%m-%d %H:%M"', "null")


def test_the_spec_is_a_record_built_by_keyword_that_refuses_unknown_keys(spec: FeatureSpec) -> None:
    assert isinstance(spec, Record) and isinstance(spec.columns[0], Record)
    with pytest.raises(TypeError):
        FeatureSpec(spec.columns, "time_hour", "UTC", "tiny", "0" * 64)  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        FeatureSpec.from_json(
            SPEC_WRITTEN_BY_THE_DATACLASS.replace('"code_version"', '"extra": 1, "code_version"')
        )
    with pytest.raises(ValidationError, match="frozen"):
        spec.timezone = "UTC"  # type: ignore[misc]


def test_spec_fingerprint_changes_with_the_levels(training: pd.DataFrame, spec: FeatureSpec) -> None:
    other = fit_feature_spec(training.assign(carrier=["UA", "AA", "DL", "B6"]), tiny_contract())

    assert other.fingerprint != spec.fingerprint


def test_same_row_alone_or_in_a_larger_batch_gives_the_same_features(
    training: pd.DataFrame, spec: FeatureSpec
) -> None:
    whole = build_features(training, spec)

    for position in range(len(training)):
        alone = build_features(training.iloc[[position]], spec)
        pd.testing.assert_frame_equal(alone, whole.iloc[[position]])


def test_a_row_with_a_missing_time_alone_gives_nan_calendar_features(spec: FeatureSpec) -> None:
    """In a batch a missing time gives day_of_week NaN; the same row alone (an online request) must too."""
    row = {"time_hour": None, "carrier": "AA", "distance": 200}
    other = {"time_hour": "2013-01-07T15:00:00Z", "carrier": "UA", "distance": 100}
    in_batch = build_features(pd.DataFrame([other, row], dtype=object), spec).iloc[[1]].reset_index(drop=True)

    alone = build_features(pd.DataFrame([row], dtype=object), spec)

    assert in_batch["day_of_week"].isna().all()
    pd.testing.assert_frame_equal(alone, in_batch)


def test_integer_categorical_keeps_its_level_when_the_batch_has_a_missing_value(
    training: pd.DataFrame,
) -> None:
    """An int column is float64 in any batch with a missing value; its level must not depend on that."""
    contract = tiny_contract([{"name": "month", "kind": "categorical"}])
    spec = fit_feature_spec(training, contract)  # month is int64 here: levels "1", "2"
    clean = training.iloc[[0]]
    with_gap = pd.concat([training.iloc[[0]], training.iloc[[1]].assign(month=np.nan)])

    alone = build_features(clean, spec)
    in_batch = build_features(with_gap, spec).iloc[[0]]

    assert spec.columns[-1].categories == ("1", "2")
    assert alone["month"].tolist() == ["1"]
    pd.testing.assert_frame_equal(in_batch, alone)


def test_real_rows_same_features_in_any_batch_context(
    flights_table: pd.DataFrame, flights_contract: Contract
) -> None:
    """On real enriched flights: the 50 rows of a batch of 50 equal the same rows inside a batch of 2,000."""
    tables = SourceTables(flights_contract).references()
    big = enrich(flights_table.iloc[:2000].reset_index(drop=True), flights_contract, tables)
    spec = fit_feature_spec(big, flights_contract)
    small = enrich(flights_table.iloc[1000:1050].reset_index(drop=True), flights_contract, tables)

    whole = build_features(big, spec).iloc[1000:1050].reset_index(drop=True)
    part = build_features(small, spec)

    assert part.columns.tolist() == flights_contract.feature_names
    assert part["temp"].notna().mean() > 0.9  # the join worked: real weather values
    pd.testing.assert_frame_equal(part, whole)


# ---- the encoder: one implementation for a batch and for one online request -------------------------


@pytest.mark.parametrize(
    "values",
    [
        np.array(["UA", None, "AA", "UA", np.nan, "AA"], dtype=object),
        np.array([3.0, np.nan, -0.0, 0.0, 3.0]),
        np.array([7, 1, 7, 7], dtype=np.int64),
        np.array([True, False, True]),
        np.array([1, 1.0, "1", None, pd.NA], dtype=object),
        np.array([], dtype=object),
    ],
)
def test_factorize_is_pandas_factorize_on_few_values(values: np.ndarray) -> None:
    codes, uniques = factorize(values)
    expected_codes, expected_uniques = pd.factorize(values)

    np.testing.assert_array_equal(codes, expected_codes)
    assert list(uniques) == list(expected_uniques) and uniques.dtype == expected_uniques.dtype


def test_the_matrix_is_what_lightgbm_makes_of_the_frame(training: pd.DataFrame, spec: FeatureSpec) -> None:
    """The online path predicts on `matrix`; LightGBM turns the batch's DataFrame into the same numbers."""
    from lightgbm.basic import _data_from_pandas

    scoring = pd.concat([training, training.assign(carrier=["ZZ", None, "AA", "UA"], distance=np.nan)])
    frame = build_features(scoring, spec)
    levels = [list(column.categories) for column in spec.columns if column.kind == "categorical"]
    expected, *_ = _data_from_pandas(frame, "auto", "auto", levels)

    matrix = FeatureEncoder(spec).matrix(scoring)

    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.float64 and np.isnan(matrix[4, 0])  # unseen carrier "ZZ" -> missing


def test_the_encoder_remembers_times_and_forgets_beyond_its_limit(
    training: pd.DataFrame, spec: FeatureSpec
) -> None:
    encoder = FeatureEncoder(spec, memo_limit=3)
    expected = build_features(training, spec)

    first = encoder.codes(training)  # four distinct times: more than the memo holds
    again = encoder.codes(training.iloc[::-1])

    assert first["day_of_week"].tolist() == expected["day_of_week"].cat.codes.tolist()
    assert again["day_of_week"].tolist() == first["day_of_week"].tolist()[::-1]
    assert len(encoder._memo) <= 4


def test_one_record_as_arrays_gives_the_frame_features(training: pd.DataFrame, spec: FeatureSpec) -> None:
    """The online service passes typed arrays, not a DataFrame: same numbers, row by row."""
    whole = FeatureEncoder(spec).matrix(training)
    for position in range(len(training)):
        row = {name: training[name].to_numpy()[position : position + 1] for name in training.columns}
        np.testing.assert_array_equal(FeatureEncoder(spec).matrix(row), whole[position : position + 1])


def test_columns_that_come_factorized_give_the_matrix_their_values_give(
    training: pd.DataFrame, spec: FeatureSpec
) -> None:
    """An Arrow body's texts come factorized: the codes are read, not hashed again, to the same numbers."""
    scoring = pd.concat([training, training.assign(carrier=["ZZ", None, "AA", "UA"], time_hour=None)])
    columns = {name: scoring[name].to_numpy(dtype=object) for name in ("carrier", "time_hour")}
    columns["distance"] = scoring["distance"].to_numpy()
    coded = {name: pd.factorize(columns[name]) for name in ("carrier", "time_hour")}
    encoder = FeatureEncoder(spec)

    unreadable = encoder.unreadable_times(columns["time_hour"], coded["time_hour"])  # the check, first
    from_codes = encoder.matrix(columns, coded)  # then the features: the check's calendar reused

    expected = FeatureEncoder(spec).matrix(columns)
    np.testing.assert_array_equal(from_codes, expected)
    assert not unreadable.any() and np.isnan(from_codes[4:, 2]).all()  # a missing time: no day of week
    assert np.isnan(from_codes[4, 0]) and np.isnan(from_codes[5, 0])  # unseen "ZZ", missing carrier


def test_a_calendar_is_reused_only_for_the_very_column_it_was_made_from(spec: FeatureSpec) -> None:
    encoder = FeatureEncoder(spec)
    monday = np.array(["2013-01-07T15:00:00Z"], dtype=object)
    wednesday = np.array(["2013-01-09T12:00:00Z"], dtype=object)
    codes = np.array([0])

    first = encoder.unreadable_times(monday, (codes, monday))
    other = encoder.matrix({"carrier": np.array(["AA"], dtype=object), "distance": np.array([1.0]),
                            "time_hour": wednesday}, {"time_hour": (codes, wednesday)})  # fmt: skip

    assert not first.any()
    assert other[0, 2] == spec.columns[2].categories.index("2")  # Wednesday's, not Monday's remembered one


def test_times_remembered_a_few_at_a_time_give_what_a_fresh_encoder_gives(spec: FeatureSpec) -> None:
    """A service meets a new hour or two per request: the remembered calendar grows by doubling its room."""
    hours = pd.date_range("2013-01-01", periods=70, freq="7h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    remembering = FeatureEncoder(spec)
    for start in range(0, 70, 3):  # three new times a call, one seen before
        times = np.array([*hours[start : start + 3], hours[0]], dtype=object)
        columns = {"carrier": np.array(["AA"] * len(times), dtype=object), "distance": np.ones(len(times)),
                   "time_hour": times}  # fmt: skip

        got = remembering.matrix(columns)

        np.testing.assert_array_equal(got, FeatureEncoder(spec).matrix(columns))
    assert len(remembering._memo) == 70 and len(remembering._parts) >= 70
