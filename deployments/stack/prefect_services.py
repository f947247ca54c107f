"""The Prefect server (PostgreSQL database, basic authentication, the UI) and the process worker.

Both are plain `prefect` commands with their settings in the environment: Prefect 3's names
(`PREFECT_SERVER_DATABASE_CONNECTION_URL`, `PREFECT_SERVER_API_AUTH_STRING` on the server,
`PREFECT_API_URL` and `PREFECT_API_AUTH_STRING` for every client).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from deployments.stack import postgres
from deployments.stack.clients import PROJECT_DIR, QUIET, UI_LINKS_PATH, inherited, runner_env
from deployments.stack.processes import Launch
from deployments.stack.secrets import StackSecrets
from deployments.stack.settings import LOOPBACK, StackSettings

if TYPE_CHECKING:  # Prefect is imported when the API is probed, not to start the services
    from prefect.client.orchestration import SyncPrefectClient

WORKER_NAME = "driftloop-local"


def server_spec(settings: StackSettings, secrets: StackSecrets, log: Path) -> Launch:
    home = settings.state / "prefect-server"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **inherited(),
        **QUIET,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": postgres.connection_url(settings, secrets),
        "PREFECT_SERVER_API_AUTH_STRING": secrets.prefect_auth_string,
        "PREFECT_SERVER_API_HOST": LOOPBACK,
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_UI_API_URL": settings.prefect_api_url,
        "PREFECT_UI_URL": settings.ui_url + UI_LINKS_PATH,
    }
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK]
    argv += ["--port", str(settings.prefect_port)]
    return Launch("prefect-server", argv, env, home, log)


def worker_home(settings: StackSettings) -> Path:
    """PREFECT_HOME of the worker, its flow runs and the Dask workers that run their tasks (made here)."""
    home = settings.state / "prefect-worker"
    home.mkdir(parents=True, exist_ok=True)
    return home


def worker_spec(settings: StackSettings, secrets: StackSecrets, pool: str, log: Path) -> Launch:
    """A process worker in the project folder; the runs it starts inherit the store and cluster settings."""
    home = worker_home(settings)
    env = {
        **runner_env(settings, secrets),
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "5"),
    }
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    argv += ["--name", WORKER_NAME]
    return Launch("worker", argv, env, PROJECT_DIR, log)


@contextlib.contextmanager
def _probing(settings: StackSettings, secrets: StackSecrets) -> Iterator[SyncPrefectClient]:
    """A client of the stack's API for one health probe: 5 s a request and no retries (the caller polls)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    client = SyncPrefectClient(
        settings.prefect_api_url, auth_string=secrets.prefect_auth_string, httpx_settings={"timeout": 5}
    )
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}), client:
        yield client


def server_answers(settings: StackSettings, secrets: StackSecrets) -> bool | None:
    """True when the API says it is healthy, with the stack's credentials."""
    with _probing(settings, secrets) as client:
        return True if client.api_healthcheck() is None else None


def worker_online(settings: StackSettings, secrets: StackSecrets, pool: str) -> bool | None:
    """True when the stack's worker polls `pool` (Prefect has its heartbeat)."""
    from prefect.client.schemas.objects import WorkerStatus

    with _probing(settings, secrets) as client:
        try:
            workers = client.read_workers_for_work_pool(pool)
        except httpx.HTTPError:  # the server is not up yet, or the worker has not made the pool yet
            return None
    online = [w for w in workers if w.name == WORKER_NAME and w.status == WorkerStatus.ONLINE]
    return True if online else None
