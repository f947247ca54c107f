"""The shadow challenger in process: which version shadows as the registry changes, how it scores beside the
champion, that nothing it does (failing included) reaches an answer, and how the log keeps what it found."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.settings import ServingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import cut_period
from driftloop.online import PredictionService, ServedModel, read_prediction_log
from driftloop.online.predlog import ARROW_REQUEST
from driftloop.registry import Registry
from tests.driftloop.online.conftest import body_of, records_of
from tests.driftloop.online.test_predlog import MODEL, NOON, entry, new_log


@pytest.fixture()
def shadowing(store: Path, slice_contract: Contract) -> PredictionService:
    settings = ServingSettings(poll_seconds=60, shadow=True)  # the log is kept in memory: never started
    return PredictionService(settings, LocalStorage(store), slice_contract, slice_contract.model_name)


def copy_of(registry: Registry, version: int) -> int:
    """Register `version`'s trees again as a new version (one more newline: other model bytes)."""
    return registry.register(
        model_text=registry.model_text(version) + "\n",
        spec=registry.load(version).spec,
        card=registry.card(version),
        reference=registry.reference(version),
        contract=registry.contract(version),  # type: ignore[arg-type]
        lineage=registry.get(version).lineage,
        metrics=registry.get(version).metrics,
        yardsticks=registry.yardsticks(version),  # type: ignore[arg-type]
    ).version


def shadow_of(service: PredictionService) -> int | None:
    assert service.shadow is not None
    current = service.shadow.current
    return current.version.version if current else None


def test_the_shadow_follows_the_registry_newest_unpromoted_after_the_champion(
    shadowing: PredictionService, registry: Registry
) -> None:
    looks: list[tuple[Any, ...]] = []

    def look() -> None:
        champion = shadowing.reload()
        shadow = shadowing.watcher.shadow_last
        assert shadow is not None
        looks.append((champion.serving, shadow.status, shadow_of(shadowing)))

    look()  # no champion yet: nothing to shadow
    registry.promote(1, reason="test")
    look()  # v2 was registered after v1 and never promoted
    look()
    third = copy_of(registry, 1)
    look()  # a newer challenger replaces it
    registry.promote(third, reason="promoted")
    look()  # the shadow promoted: nothing newer, none shadows
    registry.promote(1, reason="roll back")
    look()  # v3 was champion once, so v2 (never promoted) shadows again

    assert third == 3
    assert looks == [
        (None, "none", None),
        (1, "loaded", 2),
        (1, "unchanged", 2),
        (1, "loaded", 3),
        (3, "none", None),
        (1, "loaded", 2),
    ]
    assert shadowing.shadow is not None and shadowing.shadow.swaps == 3


def test_the_shadow_scores_the_champions_rows_and_never_changes_the_answer(
    shadowing: PredictionService,
    registry: Registry,
    slice_contract: Contract,
    flights_table: pd.DataFrame,
    references,
) -> None:
    records = records_of(cut_period(flights_table, slice_contract, "2013-06").iloc[:50], slice_contract)
    alone = PredictionService(
        ServingSettings(log_predictions=False, poll_seconds=60),
        registry.storage,
        slice_contract,
        slice_contract.model_name,
    )
    registry.promote(1, reason="test")
    alone.reload()
    shadowing.reload()
    v1, v2 = (ServedModel(registry.load(v), slice_contract, references, 1000) for v in (1, 2))
    champion = shadowing.model()
    scored = champion.score(records)
    assert shadowing.shadow is not None and shadowing.shadow.current is not None

    answer = shadowing.predict(body_of(records))
    by_v2 = shadowing.shadow.current.score_alongside(champion, scored)
    third = copy_of(registry, 1)  # v1's trees with v1's feature spec: the champion's matrix is reused
    shadowing.reload()
    by_copy = shadowing.shadow.current.score_alongside(champion, scored)
    described, health, stats = shadowing.describe(), shadowing.health(), shadowing.stats()

    assert answer == {**alone.predict(body_of(records)), "request_id": answer["request_id"]}
    assert [p["probability"] for p in answer["predictions"]] == v1.score(records).probabilities.tolist()
    assert registry.get(2).files.spec != registry.get(1).files.spec  # v2 builds its own features …
    assert by_v2.tolist() == v2.score(records).probabilities.tolist()  # … bit for bit as it would serve
    assert not np.array_equal(by_v2, scored.probabilities)
    assert by_copy.tolist() == scored.probabilities.tolist()
    assert shadowing.shadow.current.version.version == third
    assert health == {"status": "ok", "model": "flights-delay", "model_version": "v1", "shadow_version": "v3"}
    assert "shadow" not in alone.health() and "shadow" not in alone.describe()
    shadow = described["shadow"]
    assert (shadow["model_version"], shadow["version"]) == ("v3", registry.get(third))
    assert shadow["last_check"] is not None and shadow["last_check"].status == "loaded"
    assert stats["shadow"] == {
        "model_version": "v3", "scored_requests": 1, "failed_requests": 0, "swaps": 2, "refused_models": 0
    }  # fmt: skip


def test_a_failing_shadow_is_counted_and_the_champion_answers(
    shadowing: PredictionService,
    registry: Registry,
    slice_contract: Contract,
    flights_table: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = records_of(flights_table.iloc[:3], slice_contract)
    registry.promote(1, reason="test")
    shadowing.reload()
    before = shadowing.predict(body_of(records))
    assert shadowing.shadow is not None and shadowing.shadow.current is not None

    def broken(*_: object) -> np.ndarray:
        raise RuntimeError("the shadow's booster broke")

    monkeypatch.setattr(shadowing.shadow.current, "score_alongside", broken)
    after = [shadowing.predict(body_of(records)) for _ in range(3)]

    assert [answer["predictions"] for answer in after] == [before["predictions"]] * 3
    assert {answer["model_version"] for answer in after} == {"v1"}
    assert shadowing.stats()["shadow"]["failed_requests"] == 3  # type: ignore[typeddict-item]
    assert shadowing.counters.shadowed == 1
    exposition = shadowing.metrics.exposition().decode()
    assert "driftloop_shadow_failures_total 3.0" in exposition
    assert 'driftloop_shadow_duration_seconds_count{format="json"} 1.0' in exposition
    assert 'driftloop_shadow_model{model="flights-delay",version="v2"} 1.0' in exposition


def test_without_the_prediction_log_no_shadow_is_loaded(store: Path, slice_contract: Contract) -> None:
    settings = ServingSettings(poll_seconds=60, shadow=True, log_predictions=False)
    service = PredictionService(settings, LocalStorage(store), slice_contract, slice_contract.model_name)
    Registry(LocalStorage(store), slice_contract.model_name).promote(1, reason="test")
    service.reload()
    assert service.shadow is None and service.watcher.shadow_last is None
    assert "shadow_version" not in service.health() and "shadow" not in service.stats()


def test_the_log_keeps_the_shadows_probabilities_beside_and_reads_older_files(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    rows = flights_table.iloc[:6]
    shadowed = entry(slice_contract, rows.iloc[:3], request="shadowed")
    shadowed = replace(shadowed, shadow_version=4, shadow_probabilities=np.array([0.25, 0.5, 0.75]))
    log.append(shadowed)
    log.append(entry(slice_contract, rows.iloc[3:5], at=NOON + timedelta(seconds=1), request="alone"))
    assert log.flush() is True
    older = log._table([entry(slice_contract, rows.iloc[5:], at=NOON + timedelta(seconds=2), request="old")])
    older = older.drop_columns(["shadow_version", "shadow_predictions", ARROW_REQUEST])  # as written before
    buffer = io.BytesIO()
    pq.write_table(older, buffer)
    storage.write_bytes(layout.prediction_log("flights", MODEL, "2026-12-01", "old"), buffer.getvalue())

    [written] = [key for key in storage.list(layout.prediction_log_day("flights", MODEL, "2026-12-01"))
                 if not key.endswith("old.parquet")]  # fmt: skip
    stored = pq.read_table(io.BytesIO(storage.read_bytes(written)))
    frame = read_prediction_log(storage, slice_contract, MODEL, NOON, NOON + timedelta(hours=1))

    assert stored.schema.field("shadow_version").type == pa.int64()
    assert stored.schema.field("shadow_predictions").type == pa.list_(pa.float64())
    assert stored.column("shadow_predictions").to_pylist() == [[0.25, 0.5, 0.75], None]
    assert list(frame.columns)[:8] == [
        "request_id", "record", "served_at", "model", "model_version", "prediction", "shadow_version",
        "shadow_prediction",
    ]  # fmt: skip
    assert frame["request_id"].tolist() == ["shadowed"] * 3 + ["alone"] * 2 + ["old"]
    assert str(frame["shadow_version"].dtype) == "Int64"
    assert frame["shadow_version"].tolist() == [4, 4, 4, pd.NA, pd.NA, pd.NA]
    np.testing.assert_array_equal(frame["shadow_prediction"], [0.25, 0.5, 0.75, np.nan, np.nan, np.nan])
    assert frame["prediction"].tolist() == [0.1, 0.5, 0.9, 0.1, 0.9, 0.1]  # the champion's, untouched
