"""A served model scores a request with the batch path's own code: the same probability, bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from driftloop.core.contract import Contract
from driftloop.data.batches import DataVersion, cut_period
from driftloop.data.enrichment import References
from driftloop.lifecycle.scoring import enrich_batch, score_batch
from driftloop.modelling.features import FeatureColumn
from driftloop.online import ModelRefused, ServedModel
from driftloop.online.arrow import read_stream
from driftloop.online.problems import RequestRefused
from driftloop.online.responses import PredictResponse
from driftloop.registry import LoadedModel, Registry
from tests.driftloop.online.conftest import body_of, records_of
from tests.driftloop.online.test_arrow import arrow_of


@pytest.fixture(scope="module")
def may(flights_table: pd.DataFrame, slice_contract: Contract) -> pd.DataFrame:
    """Every flight of May 2013, plus three whose time is written another way (no weather matches it)."""
    month = cut_period(flights_table, slice_contract, "2013-05")
    odd = month.iloc[:3].assign(time_hour=month["time_hour"].iloc[:3].str.replace("T", " "))
    return pd.concat([month, odd], ignore_index=True)


def served(registry: Registry, version: int, contract: Contract, references: References) -> ServedModel:
    return ServedModel(registry.load(version), contract, references, max_records=100_000)


@pytest.fixture()
def may_in_batch(
    registry: Registry, slice_contract: Contract, reference_tables: dict[str, pd.DataFrame], may: pd.DataFrame
) -> np.ndarray:
    """May's probabilities as batch scoring gives them (v2): every online path must equal them, bitwise."""
    loaded = registry.load(2)
    version = DataVersion(dataset="flights", period="2013-05", sha256="0" * 64, key="-", rows=len(may))
    scored = score_batch(
        enrich_batch(version, may, slice_contract, reference_tables), loaded.booster, loaded.spec, 2
    )
    return np.asarray(scored.prediction)


def test_online_probabilities_equal_batch_scoring_bit_for_bit(
    registry: Registry,
    slice_contract: Contract,
    references: References,
    reference_tables: dict[str, pd.DataFrame],
    may: pd.DataFrame,
    may_in_batch: np.ndarray,
) -> None:
    model = served(registry, 2, slice_contract, references)

    scored = model.score(model.records(body_of(records_of(may, slice_contract))))

    assert len(scored.probabilities) == len(may) > 25_000
    np.testing.assert_array_equal(scored.probabilities, may_in_batch)  # exactly, not approximately
    weather = reference_tables["weather"]
    hours = set(zip(weather["origin"], weather["time_hour"], strict=True))
    no_weather = sum(key not in hours for key in zip(may["origin"], may["time_hour"], strict=True))
    no_plane = int((~may["tailnum"].isin(reference_tables["planes"]["tailnum"])).sum())
    assert scored.misses == {"weather": no_weather, "planes": no_plane}
    assert no_weather == 3 and no_plane > 0
    # Through the response's JSON too: floats are written shortest-round-trip and read back exactly.
    response = {"model": "m", "model_version": "v2", "request_id": "r",
                "predictions": [{"probability": p} for p in scored.probabilities.tolist()]}  # fmt: skip
    echoed = json.loads(TypeAdapter(PredictResponse).dump_json(response))
    assert [p["probability"] for p in echoed["predictions"]] == may_in_batch.tolist()


def test_an_arrow_body_scores_as_its_json_and_batch_scoring_bit_for_bit(
    registry: Registry,
    slice_contract: Contract,
    references: References,
    may: pd.DataFrame,
    may_in_batch: np.ndarray,
) -> None:
    """Its texts come factorized from Arrow and are looked up and encoded by their codes: the same numbers."""
    model = served(registry, 2, slice_contract, references)
    records = records_of(may, slice_contract)

    columns, coded = model.columns(read_stream(arrow_of(records, slice_contract), 100_000))
    scored = model.score_columns(columns, coded)

    assert {"carrier", "origin", "tailnum", "time_hour"} <= set(coded)
    np.testing.assert_array_equal(scored.probabilities, may_in_batch)
    assert scored.misses == model.score(records).misses and scored.misses["weather"] == 3


def test_one_record_alone_scores_as_inside_its_month(
    registry: Registry, slice_contract: Contract, references: References, may: pd.DataFrame
) -> None:
    model = served(registry, 1, slice_contract, references)
    records = records_of(may.iloc[:300], slice_contract)
    together = model.score(records).probabilities

    alone = [model.score([record]).probabilities[0] for record in records]

    assert alone == together.tolist()
    assert len(set(alone)) > 100  # real, different rows


def test_explanations_are_the_largest_contributions_with_their_values(
    registry: Registry, slice_contract: Contract, references: References, may: pd.DataFrame
) -> None:
    model = served(registry, 1, slice_contract, references)
    scored = model.score(records_of(may.iloc[:5], slice_contract))
    full = model.booster.predict(scored.matrix, pred_contrib=True)

    bias, explained = model.explain(scored, top=3)

    np.testing.assert_array_equal(bias, full[:, -1])
    for row, contributions in enumerate(explained):
        sizes = [abs(c.contribution) for c in contributions]
        assert len(contributions) == 3 and sizes == sorted(sizes, reverse=True)
        assert sizes[0] == np.abs(full[row, :-1]).max()
    by_name = {c.feature: c.value for c in explained[0]}
    if "carrier" in by_name:
        assert by_name["carrier"] == may["carrier"].iloc[0]  # categoricals shown as their level


def _loaded_with(registry: Registry, **changes: object) -> LoadedModel:
    loaded = registry.load(1)
    return LoadedModel(
        version=loaded.version, booster=loaded.booster, spec=loaded.spec.model_copy(update=changes)
    )


def test_a_spec_that_is_not_the_boosters_is_refused(
    registry: Registry, slice_contract: Contract, references: References
) -> None:
    spec = registry.load(1).spec
    other_levels = tuple(
        FeatureColumn(
            name=c.name,
            kind=c.kind,
            derive=c.derive,
            categories=c.categories[:-1] if c.kind == "categorical" else (),
        )
        for c in spec.columns
    )
    with pytest.raises(ModelRefused, match="category levels"):
        ServedModel(_loaded_with(registry, columns=other_levels), slice_contract, references, 10)
    with pytest.raises(ModelRefused, match="features"):
        ServedModel(_loaded_with(registry, columns=spec.columns[::-1]), slice_contract, references, 10)
    with pytest.raises(ModelRefused, match="trained on contract 'rain'"):
        ServedModel(_loaded_with(registry, contract_name="rain"), slice_contract, references, 10)


@pytest.mark.parametrize(
    "written",
    [
        "2013-02-30T10:00:00Z",  # no such day
        "0000-01-01T10:00:00Z",  # no year 0
        "9999-12-31T23:59:59Z",  # beyond what a timestamp holds (2262)
        "2013-03-10T02:30:00",  # wall-clock time skipped by DST in America/New_York
        "2013-11-03T01:30:00",  # wall-clock time repeated by DST: two instants
    ],
)
def test_a_time_that_cannot_exist_is_refused_naming_the_record_and_field(
    registry: Registry, slice_contract: Contract, references: References, may: pd.DataFrame, written: str
) -> None:
    model = served(registry, 1, slice_contract, references)
    records = records_of(may.iloc[:3], slice_contract)
    records[1]["time_hour"] = written

    with pytest.raises(RequestRefused) as refused:
        model.records(body_of(records))

    assert refused.value.kind == "invalid" and refused.value.total == 1
    [problem] = refused.value.problems
    assert (problem.loc, problem.rule, problem.got) == (("body", "records", 1, "time_hour"), "type", written)
    assert "America/New_York" in problem.expected
    records[1]["time_hour"] = "2013-03-10T03:30:00"  # an hour later exists
    assert len(model.records(body_of(records))) == 3
