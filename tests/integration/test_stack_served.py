"""The production loop on the stack, on live traffic: a service on the stack's store answers a period's
records; the `monitor-served` deployment judges what it served; the automation retrains and promotes; the
service swaps models while a client keeps sending, and not one request fails.

Runs after test_stack.py (file order) on the same session stack. Its champion, trained up to July on an 8%
slice, beats any later challenger on a slice, so the operator first rolls back to the first model (January to
March): the retraining on August then has the evidence to be promoted. The `monitor-served` run is given the
`every-period` policy as a parameter, so that the event does not hang on whether an alarm fires.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from driftloop.core import layout
from driftloop.core.contract import load_contract
from driftloop.data.sources import SourceTables
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.online.traffic import client_records, request_bodies, send
from driftloop.registry import Registry
from tests.driftloop.online.conftest import wait_until
from tests.integration.conftest import StackHandle
from tests.servers import prediction_service

pytestmark = pytest.mark.integration
MODEL = "flights-delay"
PERIOD = "2013-08"  # not a period test_stack.py's events name: a new event id
FAST = {"DRIFTLOOP_SERVE_POLL_SECONDS": "0.5", "DRIFTLOOP_SERVE_LOG_FLUSH_SECONDS": "0.5"}


class Client(threading.Thread):
    """One client sending the period's records again and again until told to stop; counts what answered."""

    def __init__(self, url: str, bodies: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.url, self.bodies = url, bodies
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.halt.is_set():
                for body in self.bodies:
                    try:
                        answer = client.post("/predict", content=body)
                    except httpx.HTTPError as error:
                        self.failures.append(type(error).__name__)
                        continue
                    if answer.status_code != 200:
                        self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
                        continue
                    self.versions[answer.json()["model_version"]] += 1
                    if self.halt.is_set():
                        return


def _settings(stack: StackHandle, triggers: list[str]) -> dict:
    """The settings the stack's worker gives its runs, with these policy triggers (a flow parameter)."""
    import os

    from driftloop.core.settings import PolicySettings, Settings

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(stack.env)
        settings = Settings.load()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    policy = PolicySettings.model_validate({**settings.policy.model_dump(), "triggers": triggers})
    return settings.model_copy(update={"policy": policy}).model_dump(mode="json")


def test_served_traffic_is_monitored_and_a_retraining_swaps_the_service_with_no_failed_request(
    stack: StackHandle, tmp_path: Path
) -> None:
    registry = Registry(stack.storage(), MODEL)
    if registry.champion() is None:
        assert stack.run_deployment("train/train", {"as_of": "2013-03"})["state"]["type"] == "COMPLETED"
    first = registry.promotion_log()[0].version  # the model trained on January to March
    if registry.require_champion().version != first:
        registry.promote(first, reason="test: the operator rolls back to the first model")
    before = registry.require_champion().version
    contract = load_contract(stack.env["DRIFTLOOP_DATA_CONTRACT"])
    records = client_records(SourceTables(contract).read_period(PERIOD), contract)[::10]  # ~2,800 flights
    env = {name: value for name, value in stack.env.items() if name.startswith("DRIFTLOOP_")} | FAST
    store, contract_path = stack.env["DRIFTLOOP_STORAGE_URL"], stack.env["DRIFTLOOP_DATA_CONTRACT"]

    with prediction_service(store, contract_path, tmp_path / "serve.log", env) as service:  # type: ignore[arg-type]
        sent = send(records, service.url, batch=50)
        assert (sent.answered_records, sent.failed_requests) == (len(records), 0)
        assert sent.versions == {f"v{before}": len(records)}
        client = Client(service.url, [body for body, _ in request_bodies(records[:200], 20)])
        client.start()
        retrains = len(stack.runs("retrain/retrain"))

        settings = _settings(stack, triggers=["every-period"])
        monitored = stack.run_deployment(
            "monitor/monitor-served", {"period": PERIOD, "served": True, "settings": settings}
        )
        assert (monitored["state"]["type"], monitored["name"]) == ("COMPLETED", f"monitor {PERIOD}")
        retrain = stack.wait_for(
            "the automation's retrain run", lambda: stack.runs("retrain/retrain")[retrains:] or None
        )[0]
        retrain = stack.finished(retrain["id"])
        after = registry.require_champion().version
        wait_until(lambda: client.versions[f"v{after}"] >= 20, f"answers by v{after}", seconds=60)
        client.halt.set()
        client.join(timeout=60)

    verdict = MonitoringVerdict.from_json(
        stack.storage().read_bytes(layout.monitoring_verdict("flights", PERIOD, MODEL, before, served=True))
    )
    assert verdict.served is not None
    assert verdict.served.by_version[f"v{before}"] >= len(records)  # and the client's, as they came
    assert verdict.served.join_rate > 0.95  # the flights' outcomes are in the source: cancellations lack one
    assert retrain["state"]["type"] == "COMPLETED" and retrain["created_by"]["type"] == "AUTOMATION"
    assert retrain["parameters"]["period"] == PERIOD
    assert after != before and registry.promotion_log()[-1].data_period == PERIOD
    assert client.failures == []
    assert set(client.versions) == {f"v{before}", f"v{after}"}
