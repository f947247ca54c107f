"""Hot swap: the watcher follows the champion alias, verifies what it loads, and never serves a bad file."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.settings import ServingSettings
from driftloop.core.storage import LocalStorage
from driftloop.online import ChampionWatcher, ModelSlot, PredictionService, ServedModel
from driftloop.registry import Registry
from tests.driftloop.online.conftest import body_of, records_of, tamper


@pytest.fixture()
def watcher(registry: Registry, slice_contract: Contract, references) -> ChampionWatcher:
    def load(version: int) -> ServedModel:
        return ServedModel(registry.load(version), slice_contract, references, max_records=1000)

    return ChampionWatcher(registry, load, ModelSlot(), poll_seconds=60)


def test_nothing_serves_until_there_is_a_champion(watcher: ChampionWatcher, registry: Registry) -> None:
    outcome = watcher.check()
    assert (outcome.status, outcome.serving, watcher.slot.current) == ("no_champion", None, None)
    assert "no champion" in outcome.reason and "driftloop train" in outcome.reason

    registry.promote(1, reason="test")
    outcome = watcher.check()

    assert (outcome.status, outcome.champion, outcome.serving) == ("loaded", 1, 1)
    assert watcher.check().status == "unchanged"
    assert watcher.slot.swaps == 1


def test_a_promotion_and_a_rollback_are_each_one_swap(watcher: ChampionWatcher, registry: Registry) -> None:
    registry.promote(1, reason="test")
    watcher.check()
    held = watcher.slot.current
    registry.promote(2, reason="better")

    assert watcher.check().status == "loaded" and watcher.slot.current.version.version == 2
    assert held.version.version == 1  # the bundle a request holds is never changed by a swap
    registry.promote(1, reason="roll back")
    assert (watcher.check().serving, watcher.slot.swaps) == (1, 3)


def test_a_tampered_model_is_refused_and_the_old_one_keeps_serving(
    watcher: ChampionWatcher, registry: Registry
) -> None:
    registry.promote(1, reason="test")
    watcher.check()
    tamper(registry, 2)
    registry.promote(2, reason="looks better")

    refused = watcher.check()
    again = watcher.check()

    assert (refused.status, refused.champion, refused.serving) == ("refused", 2, 1)
    assert "SHA-256" in refused.reason and "v2 refused" in refused.reason
    assert watcher.slot.current.version.version == 1
    assert again.status == "refused" and watcher.refusals == 1  # reported once, not at every poll


def test_a_model_whose_file_is_gone_is_refused(watcher: ChampionWatcher, registry: Registry) -> None:
    registry.storage.delete(layout.registry_blob(registry.model, registry.get(2).files.model))
    registry.promote(2, reason="test")

    outcome = watcher.check()

    assert outcome.status == "refused" and "missing" in outcome.reason and outcome.serving is None


def test_the_poll_thread_swaps_without_being_asked(
    registry: Registry, slice_contract: Contract, references
) -> None:
    loads = threading.Event()

    def load(version: int) -> ServedModel:
        model = ServedModel(registry.load(version), slice_contract, references, max_records=10)
        if version == 2:
            loads.set()
        return model

    watcher = ChampionWatcher(registry, load, ModelSlot(), poll_seconds=0.05)
    registry.promote(1, reason="test")
    watcher.start()
    try:
        assert watcher.slot.current.version.version == 1  # start() looks once before it returns
        registry.promote(2, reason="test")
        assert loads.wait(timeout=30)
    finally:
        watcher.stop()
    assert watcher.slot.current.version.version == 2


def test_requests_during_swaps_never_fail_and_each_names_the_version_that_served_it(
    store: Path, registry: Registry, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    """Eight threads score while the champion flips between v1 and v2 twenty times."""
    service = PredictionService(
        ServingSettings(log_predictions=False, poll_seconds=60), LocalStorage(store), slice_contract,
        slice_contract.model_name,
    )  # fmt: skip
    records = records_of(flights_table.iloc[1000:1005], slice_contract)
    expected = {
        f"v{version}": service.load(version).score(records).probabilities.tolist() for version in (1, 2)
    }
    assert expected["v1"] != expected["v2"]
    registry.promote(1, reason="test")
    service.start()
    seen: list[tuple[str, list[float]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                result = service.predict(body_of(records))
                seen.append((result["model_version"], [p["probability"] for p in result["predictions"]]))
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for flip in range(20):
            registry.promote(2 if flip % 2 == 0 else 1, reason="flip")
            assert service.reload().status == "loaded"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        service.close()

    assert errors == []
    assert {version for version, _ in seen} == {"v1", "v2"}
    assert all(probabilities == expected[version] for version, probabilities in seen)
    assert np.isfinite([p for _, ps in seen for p in ps]).all() and len(seen) > 40
