"""The served deployments: their schedule and trigger, then the drift automation end to end on a real server.

The end-to-end test starts its own `prefect server start` on a free loopback port (own PREFECT_HOME,
isolated from the session's test harness), serves `python -m deployments.serve` against it, emits
`driftloop.drift.detected` with `emit_event` and waits for the server to start a real `retrain` run
on a store this test prepared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from deployments.serve import MONTHLY_CRON, DeploymentSettings, build_deployments
from tasks.monitor import DRIFT_EVENT

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
WAIT_SECONDS = 120.0
MODEL = "flights-delay"
T = TypeVar("T")


# ---- unit: what build_deployments declares ---------------------------------------------------------


def test_two_deployments_monthly_cron_and_drift_trigger() -> None:
    monthly, retrain = build_deployments(DeploymentSettings())

    assert (monthly.name, monthly.entrypoint) == ("monthly", "flows/monthly.py:monthly_flow")
    assert (retrain.name, retrain.entrypoint) == ("retrain", "flows/retrain.py:retrain_flow")
    assert monthly.tags == retrain.tags == ["driftloop"]
    assert monthly.parameters == retrain.parameters == {}  # no settings object: the served env decides

    (schedule,) = monthly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 2 * *", "UTC")
    assert monthly.triggers == []

    assert not retrain.schedules
    (trigger,) = retrain.triggers
    assert trigger.expect == {"driftloop.drift.detected"}
    assert trigger.match.model_dump() == {"prefect.resource.id": "driftloop.model.*"}
    assert (trigger.posture, trigger.threshold) == ("Reactive", 1)
    assert trigger.parameters == {
        "month": "{{ event.payload.month }}",
        "reason": "{{ event.payload.reasons | join('; ') }}",
    }


def test_cron_fires_on_the_second_at_six_utc() -> None:
    """Read by the server's own schedule model, the cron means what its comment says."""
    from prefect.server.schemas.schedules import CronSchedule

    dates = asyncio.run(
        CronSchedule(cron=MONTHLY_CRON, timezone="UTC").get_dates(
            n=2, start=datetime(2024, 1, 15, tzinfo=UTC)
        )
    )

    assert dates == [datetime(2024, 2, 2, 6, tzinfo=UTC), datetime(2024, 3, 2, 6, tzinfo=UTC)]


def test_trigger_parameters_render_from_the_event_payload() -> None:
    """The server's sandboxed Jinja turns the event into the flow's `month` and `reason` strings."""
    from prefect.server.utilities.user_templates import render_user_template_sync

    (trigger,) = build_deployments()[1].triggers
    event = {"payload": {"month": "2013-07", "reasons": ["share drifted 0.62 >= 0.50", "prediction drift"]}}

    rendered = {
        key: render_user_template_sync(value, {"event": event}) for key, value in trigger.parameters.items()
    }

    assert rendered == {"month": "2013-07", "reason": "share drifted 0.62 >= 0.50; prediction drift"}


def test_schedule_comes_from_driftloop_deploy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_DEPLOY_MONTHLY_CRON", "30 4 3 * *")
    monkeypatch.setenv("DRIFTLOOP_DEPLOY_TIMEZONE", "Europe/Paris")

    (schedule,) = build_deployments()[0].schedules

    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 4 3 * *", "Europe/Paris")


# ---- integration: a real server, the served process, a real event ----------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def subprocess_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any PREFECT_*/DRIFTLOOP_* (the harness's), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLOOP_"))}
    env.update(
        {
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "false",
            "MPLBACKEND": "Agg",
        }
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (its own process group, output to `log`) until the block ends, then stop it."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the group also holds the flow-run processes the runner starts
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return f"--- {log.name} ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_for(what: str, probe: Callable[[], T | None], logs: list[Path], timeout: float = WAIT_SECONDS) -> T:
    """Poll `probe` until it returns something; fail with the subprocess logs after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            found = probe()
            if found is not None:
                return found
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n" + "\n".join(map(tail, logs)))


def get(api: httpx.Client, path: str) -> Any | None:
    response = api.get(path)
    return response.json() if response.is_success else None


def post(api: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.post(path, json=body)
    response.raise_for_status()
    return response.json()


def prepare_store(store: Path, contract: Path) -> None:
    """Three validated months and a champion trained on them, made under the session's test server."""
    from driftloop.settings import (
        DataSettings,
        DriftSettings,
        Settings,
        StorageSettings,
        TrainingSettings,
    )
    from flows.ingest import ingest_flow
    from flows.train import train_flow

    settings = Settings(
        storage=StorageSettings(url=str(store)),
        data=DataSettings(contract=str(contract), sample_fraction=0.08),
        training=TrainingSettings(max_rounds=60, cv_folds=3),
        promotion=Settings.load().promotion,
        drift=DriftSettings(sample_rows=2000),
    )
    for month in ("2013-01", "2013-02", "2013-03"):
        ingest_flow(month, settings)
    outcome = train_flow(as_of="2013-03", settings=settings)
    assert (outcome.version, outcome.promoted) == (1, True)


EMIT = """
import json, sys
from prefect.events import emit_event
spec = json.loads(sys.argv[1])
event = emit_event(event=spec["event"], resource=spec["resource"], payload=spec["payload"])
print(event.id if event else "NOT EMITTED")
"""


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_drift_event_starts_a_real_retrain_on_a_served_deployment(
    tmp_path: Path, slice_contract_path: Path
) -> None:
    from driftloop.registry import Registry
    from driftloop.storage import LocalStorage

    port = free_port()
    api_url = f"http://{LOOPBACK}:{port}/api"
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    logs = [server_log, serve_log]
    store = tmp_path / "store"
    served_env = subprocess_env(
        tmp_path / "serve-home",
        PREFECT_API_URL=api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # pick the triggered run up within a second, not ten
        DRIFTLOOP_STORAGE_URL=str(store),
        DRIFTLOOP_DATA_CONTRACT=str(slice_contract_path),
        DRIFTLOOP_DATA_SAMPLE_FRACTION="0.08",
        DRIFTLOOP_TRAIN_MAX_ROUNDS="60",
        DRIFTLOOP_TRAIN_CV_FOLDS="3",
        DRIFTLOOP_DRIFT_SAMPLE_ROWS="2000",
    )
    server_command = [str(Path(sys.executable).parent / "prefect"), "server", "start"]
    server_command += ["--host", LOOPBACK, "--port", str(port), "--no-ui"]

    with (
        running(server_command, subprocess_env(tmp_path / "server-home"), server_log),
        httpx.Client(base_url=api_url, timeout=10) as api,
    ):
        prepare_store(store, slice_contract_path)  # while the server boots
        wait_for("the server's /api/health", lambda: get(api, "/health"), logs)

        with running([sys.executable, "-m", "deployments.serve"], served_env, serve_log):
            deployment = wait_for(
                "the served retrain deployment",
                lambda: get(api, "/deployments/name/retrain/retrain"),
                logs,
            )
            wait_for(
                "its drift automation",
                lambda: (
                    [
                        a
                        for a in post(api, "/automations/filter", {})
                        if any(action.get("deployment_id") == deployment["id"] for action in a["actions"])
                    ]
                    or None
                ),
                logs,
            )

            reasons = ["share of drifted features 0.60 >= 0.50", "prediction drift"]
            spec = {
                "event": DRIFT_EVENT,
                "resource": {
                    "prefect.resource.id": f"driftloop.model.{MODEL}",
                    "prefect.resource.name": MODEL,
                },
                "payload": {
                    "model": MODEL,
                    "model_version": 1,
                    "month": "2013-03",
                    "drift_share": 0.6,
                    "reasons": reasons,
                },
            }
            emitted = subprocess.run(
                [sys.executable, "-c", EMIT, json.dumps(spec)],
                cwd=REPO,
                env=subprocess_env(tmp_path / "emit-home", PREFECT_API_URL=api_url),
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            assert emitted.stdout.strip() != "NOT EMITTED", emitted.stderr

            def finished_run() -> dict[str, Any] | None:
                runs = post(
                    api, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
                )
                done = [
                    r
                    for r in runs
                    if r["state"] and r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
                ]
                return done[0] if done else None

            run = wait_for("the triggered retrain run to finish", finished_run, logs)
            artifacts = post(
                api, "/artifacts/filter", {"artifacts": {"key": {"any_": [f"decision-{MODEL}-v1"]}}}
            )
            monthly_runs = wait_for(
                "the server to schedule monthly runs",
                lambda: (
                    post(
                        api,
                        "/flow_runs/filter",
                        {"deployments": {"name": {"any_": ["monthly"]}}, "sort": "EXPECTED_START_TIME_ASC"},
                    )
                    or None
                ),
                logs,
            )

    assert run["state"]["type"] == "COMPLETED", "\n".join(map(tail, logs))
    assert run["parameters"] == {"month": "2013-03", "reason": "; ".join(reasons)}
    assert run["name"] == "retrain after 2013-03"
    # Same three months, same parameters: the served retrain made the champion's bytes again, so the
    # registry handed back v1 and the evaluation it published says it is already the champion.
    (decision,) = artifacts
    assert decision["data"].startswith("## not promoted: v1")
    assert "- v1 is already the champion (identical model bytes)" in decision["data"]
    registry = Registry(LocalStorage(store), MODEL)
    assert [v.version for v in registry.versions()] == [1]
    assert registry.champion().version == 1
    assert len(registry.promotion_log()) == 1
    # The real server's scheduler put the monthly runs on the 2nd at 06:00 UTC.
    starts = [datetime.fromisoformat(r["expected_start_time"]).astimezone(UTC) for r in monthly_runs]
    assert {(s.day, s.hour, s.minute, s.second) for s in starts} == {(2, 6, 0, 0)}
    assert all(r["state"]["type"] == "SCHEDULED" for r in monthly_runs)
