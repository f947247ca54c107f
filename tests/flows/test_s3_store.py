"""The same flows on a real S3 server (SeaweedFS on loopback): the store is a URL, nothing else changes.

Prefect keys its caches on content hashes without pickling anything, so no run logs a cache-key error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from driftloop.core.settings import S3Settings
from driftloop.core.storage import open_storage
from driftloop.registry import Registry
from tests.conftest import slice_settings
from tests.servers import SeaweedEndpoint

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def test_train_score_and_monitor_on_s3_with_no_cache_key_error(
    seaweed: SeaweedEndpoint,
    file_source: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows.monitor import monitor_flow
    from flows.score import score_flow
    from flows.train import train_flow

    monkeypatch.setenv("DRIFTLOOP_S3_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("DRIFTLOOP_S3_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("DRIFTLOOP_S3_SECRET_ACCESS_KEY", seaweed.secret_key)
    settings = slice_settings("s3://driftloop-flows/replay", file_source)
    caplog.set_level(logging.INFO)

    first = train_flow(as_of="2013-03", settings=settings)
    again = train_flow(as_of="2013-03", settings=settings)
    scored = score_flow("2013-05", settings=settings)
    monitored = monitor_flow("2013-05", settings=settings)

    assert (first.version, first.promoted, again.version, again.promoted) == (1, True, 1, False)
    assert (
        scored.predictions
        == "s3://driftloop-flows/replay/predictions/flights/2013-05/flights-delay-v0001.parquet"
    )
    assert monitored.report.startswith("s3://driftloop-flows/replay/reports/drift/flights/2013-05/")
    registry = Registry(open_storage(settings.storage.url, S3Settings()), "flights-delay")
    assert [v.version for v in registry.versions()] == [1]
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "cache key" in m or "pickle" in m]
