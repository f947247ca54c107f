"""What the service says about itself: /health, /model and /stats bodies, built without HTTP."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.core.settings import ServingSettings
from driftloop.core.storage import LocalStorage
from driftloop.online import NoModel, PredictionService, RequestRefused
from driftloop.registry import ContractRef, Registry
from tests.driftloop.online.conftest import body_of, records_of, tamper


@pytest.fixture()
def service(store: Path, slice_contract: Contract) -> PredictionService:
    settings = ServingSettings(log_predictions=False, poll_seconds=60)
    return PredictionService(settings, LocalStorage(store), slice_contract, slice_contract.model_name)


def test_health_says_why_nothing_serves_then_which_version_does(
    service: PredictionService, registry: Registry
) -> None:
    service.reload()
    waiting = service.health()
    registry.promote(1, reason="test")
    service.reload()
    serving = service.health()
    tamper(registry, 2)
    registry.promote(2, reason="a tampered file")
    service.reload()
    refusing = service.health()

    assert {key: value for key, value in waiting.items() if key != "problem"} == {
        "status": "unavailable", "model": "flights-delay", "model_version": None,
    }  # fmt: skip
    assert waiting["problem"].startswith("flights-delay has no champion in ")
    assert serving == {"status": "ok", "model": "flights-delay", "model_version": "v1"}  # no `problem` key
    assert (refusing["status"], refusing["model_version"]) == ("ok", "v1")
    assert refusing["problem"].startswith("v2 refused: ") and "SHA-256" in refusing["problem"]


def test_describe_holds_the_serving_versions_records(
    service: PredictionService, registry: Registry, slice_contract: Contract
) -> None:
    with pytest.raises(NoModel, match="starting"):
        service.describe()
    service.reload()
    with pytest.raises(NoModel, match="has no champion"):
        service.describe()
    registry.promote(1, reason="test")
    service.reload()

    described = service.describe()

    assert (described["model"], described["model_version"]) == ("flights-delay", "v1")
    assert described["version"] == registry.get(1)
    assert described["contract"] == ContractRef(
        name="flights", version=slice_contract.version, fingerprint=slice_contract.fingerprint
    )
    assert described["last_check"] is not None and described["last_check"].status == "loaded"
    assert described["loaded_at"] == service.slot.current.loaded_at


def test_stats_count_requests_records_and_refusals(
    service: PredictionService, registry: Registry, flights_table: pd.DataFrame, slice_contract: Contract
) -> None:
    registry.promote(1, reason="test")
    service.reload()
    service.predict(body_of(records_of(flights_table.iloc[:3], slice_contract)))
    with pytest.raises(RequestRefused):
        service.predict(b'{"records": []}')

    stats = service.stats()

    assert (stats["requests"], stats["records"], stats["model_version"]) == (2, 3, "v1")
    assert stats["refused"] == {"invalid": 1, "too_large": 0, "no_model": 0}
    assert set(stats["lookup_misses"]) == {"weather", "planes"}
    assert (stats["swaps"], stats["refused_models"], stats["prediction_log"]) == (1, 0, None)
