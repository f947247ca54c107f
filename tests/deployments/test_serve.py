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
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import pytest

from deployments.serve import MONTHLY_CRON, DeploymentSettings, build_deployments
from tasks.monitor import DRIFT_EVENT

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
WAIT_SECONDS = 120.0
MODEL = "flights-delay"
# Prefect 3.8.8's scheduler inserts runs in bulk with a `state` key that SQLAlchemy 2.1 refuses, so with
# SQLAlchemy 2.1 no scheduled run is ever created (triggered runs are unaffected): pyproject pins <2.1,
# and the schedule test fails at once when the server logs this.
SCHEDULER_BULK_INSERT_ERROR = "Can't evaluate bulk DML statement"
T = TypeVar("T")


# ---- unit: what build_deployments declares ---------------------------------------------------------


def test_two_deployments_monthly_cron_and_drift_trigger() -> None:
    monthly, retrain = build_deployments(DeploymentSettings())

    assert (monthly.name, monthly.entrypoint) == ("monthly", "flows/monitor.py:monitor_flow")
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
        "period": "{{ event.payload.period }}",
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
    """The server's sandboxed Jinja turns the event into the flow's `period` and `reason` strings."""
    from prefect.server.utilities.user_templates import render_user_template_sync

    (trigger,) = build_deployments()[1].triggers
    event = {"payload": {"period": "2013-07", "reasons": ["share drifted 0.62 >= 0.50", "prediction drift"]}}

    rendered = {
        key: render_user_template_sync(value, {"event": event}) for key, value in trigger.parameters.items()
    }

    assert rendered == {"period": "2013-07", "reason": "share drifted 0.62 >= 0.50; prediction drift"}


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


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    logs: list[Path],
    timeout: float = WAIT_SECONDS,
    fatal: tuple[str, ...] = (),
) -> T:
    """Poll `probe` until it returns something; fail with the subprocess logs after `timeout`.

    A `fatal` text showing up in a log means the wait is hopeless: fail at once.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            found = probe()
            if found is not None:
                return found
        for log in logs:
            text = log.read_text(errors="replace") if log.exists() else ""
            for error in fatal:
                if error in text:
                    pytest.fail(f"{log.name} reports {error!r} while waiting for {what}\n{tail(log, 60)}")
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
    from flows.train import train_flow

    settings = Settings(
        storage=StorageSettings(url=str(store)),
        data=DataSettings(contract=str(contract), sample_fraction=0.08),
        training=TrainingSettings(max_rounds=60, cv_folds=3),
        promotion=Settings.load().promotion,
        drift=DriftSettings(sample_rows=2000),
    )
    outcome = train_flow(as_of="2013-03", settings=settings)
    assert (outcome.version, outcome.promoted) == (1, True)


EMIT = """
import json, sys
from prefect.events import emit_event
spec = json.loads(sys.argv[1])
event = emit_event(event=spec["event"], resource=spec["resource"], payload=spec["payload"])
print(event.id if event else "NOT EMITTED")
"""
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


class Served(NamedTuple):
    """A real server with `python -m deployments.serve` attached, and the store the served runs use."""

    api: httpx.Client
    api_url: str
    store: Path
    retrain_id: str
    logs: list[Path]
    home: Path


@pytest.fixture(scope="module")
def served(
    prefect_server: None, slice_contract_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`prefect server start` on a free loopback port, a prepared store, and the served deployments."""
    root = tmp_path_factory.mktemp("served")
    port = free_port()
    api_url = f"http://{LOOPBACK}:{port}/api"
    server_log, serve_log = root / "server.log", root / "serve.log"
    logs = [server_log, serve_log]
    store = root / "store"
    served_env = subprocess_env(
        root / "serve-home",
        PREFECT_API_URL=api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="1",  # pick a triggered run up within a second, not ten
        DRIFTLOOP_STORAGE_URL=str(store),
        DRIFTLOOP_DATA_CONTRACT=str(slice_contract_path),
        DRIFTLOOP_DATA_SAMPLE_FRACTION="0.08",
        DRIFTLOOP_TRAIN_MAX_ROUNDS="60",
        DRIFTLOOP_TRAIN_CV_FOLDS="3",
        DRIFTLOOP_DRIFT_SAMPLE_ROWS="2000",
    )
    server = [sys.executable, "-m", "prefect", "server", "start"]
    server += ["--host", LOOPBACK, "--port", str(port), "--no-ui"]

    with (
        running(server, subprocess_env(root / "server-home"), server_log),
        httpx.Client(base_url=api_url, timeout=10) as api,
    ):
        with pytest.MonkeyPatch.context() as env:  # the developer's DRIFTLOOP_* stay out of the store
            for name in [n for n in os.environ if n.startswith("DRIFTLOOP_")]:
                env.delenv(name)
            prepare_store(store, slice_contract_path)  # while the server boots
        wait_for("the server's /api/health", lambda: get(api, "/health"), logs)

        with running([sys.executable, "-m", "deployments.serve"], served_env, serve_log):
            retrain = wait_for(
                "the served retrain deployment", lambda: get(api, "/deployments/name/retrain/retrain"), logs
            )
            wait_for(
                "its drift automation",
                lambda: (
                    [
                        automation
                        for automation in post(api, "/automations/filter", {})
                        if any(
                            action.get("deployment_id") == retrain["id"] for action in automation["actions"]
                        )
                    ]
                    or None
                ),
                logs,
            )
            yield Served(api, api_url, store, retrain["id"], logs, root)


def emit_drift_event(served: Served, period: str, reasons: list[str]) -> str:
    """`emit_event` in a fresh process whose PREFECT_API_URL is the served server (not the harness)."""
    spec = {
        "event": DRIFT_EVENT,
        "resource": {"prefect.resource.id": f"driftloop.model.{MODEL}", "prefect.resource.name": MODEL},
        "payload": {
            "model": MODEL,
            "model_version": 1,
            "period": period,
            "drift_index": 1.6,
            "reasons": reasons,
        },
    }
    emitted = subprocess.run(
        [sys.executable, "-c", EMIT, json.dumps(spec)],
        cwd=REPO,
        env=subprocess_env(served.home / "emit-home", PREFECT_API_URL=served.api_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert emitted.stdout.strip() != "NOT EMITTED", emitted.stderr
    return str(uuid.UUID(emitted.stdout.strip()))


@pytest.mark.flow
def test_drift_event_starts_a_real_retrain_with_the_event_period(served: Served) -> None:
    from driftloop.registry import Registry
    from driftloop.storage import LocalStorage

    reasons = ["share of drifted features 0.60 >= 0.50", "prediction drift"]
    emit_drift_event(served, "2013-03", reasons)

    def finished_run() -> dict[str, Any] | None:
        body = {"flow_runs": {"deployment_id": {"any_": [served.retrain_id]}}}
        done = [r for r in post(served.api, "/flow_runs/filter", body) if r["state"]["type"] in TERMINAL]
        return done[0] if done else None

    run = wait_for("the triggered retrain run to finish", finished_run, served.logs)
    all_runs = post(
        served.api, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [served.retrain_id]}}}
    )
    decisions = post(
        served.api, "/artifacts/filter", {"artifacts": {"key": {"any_": [f"decision-{MODEL}-v1"]}}}
    )

    assert run["state"]["type"] == "COMPLETED", "\n".join(map(tail, served.logs))
    assert run["created_by"]["type"] == "AUTOMATION"
    assert [r["id"] for r in all_runs] == [run["id"]]  # one event, one run
    assert run["parameters"] == {"period": "2013-03", "reason": "; ".join(reasons)}
    assert run["name"] == "retrain after 2013-03"
    # Same three months, same parameters: the served retrain made the champion's bytes again, so the
    # registry handed back v1, and there was nothing to decide: no "not promoted" decision is published.
    assert decisions == []
    registry = Registry(LocalStorage(served.store), MODEL)
    assert [v.version for v in registry.versions()] == [1]
    assert registry.champion().version == 1
    assert [e.version for e in registry.promotion_log()] == [1]
    # Evaluations are one record per version and the first stands: still the original promotion.
    assert [(e.version, e.decision.promote) for e in registry.evaluations()] == [(1, True)]


@pytest.mark.flow
def test_server_schedules_monthly_runs_on_the_second_at_six_utc(served: Served) -> None:
    body = {"deployments": {"name": {"any_": ["monthly"]}}, "sort": "EXPECTED_START_TIME_ASC"}
    runs = wait_for(
        "scheduled monthly runs",
        lambda: post(served.api, "/flow_runs/filter", body) or None,
        served.logs,
        fatal=(SCHEDULER_BULK_INSERT_ERROR,),
    )

    starts = [datetime.fromisoformat(r["expected_start_time"]).astimezone(UTC) for r in runs]
    assert {(s.day, s.hour, s.minute, s.second) for s in starts} == {(2, 6, 0, 0)}
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert {r["state"]["type"] for r in runs} == {"SCHEDULED"}
