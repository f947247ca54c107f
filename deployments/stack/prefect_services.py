"""The Prefect server (PostgreSQL database, basic authentication, the UI) and the process worker.

Both are plain `prefect` commands with their settings in the environment: Prefect 3's names
(`PREFECT_SERVER_DATABASE_CONNECTION_URL`, `PREFECT_SERVER_API_AUTH_STRING` on the server,
`PREFECT_API_URL` and `PREFECT_API_AUTH_STRING` for every client).
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from deployments.environment import NO_TELEMETRY
from deployments.stack import postgres
from deployments.stack.processes import Launch
from deployments.stack.secrets import StackSecrets
from deployments.stack.settings import LOOPBACK, StackSettings

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKER_NAME = "driftloop-local"
# Where "View at" links point: Prefect 3.8's default UI (v2), whose pages ask for the login themselves.
UI_LINKS_PATH = "/v2"
QUIET = {**NO_TELEMETRY, "MPLBACKEND": "Agg"}


def _inherited() -> dict[str, str]:
    """This process's environment without Prefect profiles, API keys or AWS keys of the caller's own."""
    dropped = ("PREFECT_API_", "PREFECT_PROFILE", "PREFECT_HOME", "AWS_", "PREFECT_SERVER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def client_env(settings: StackSettings, secrets: StackSecrets) -> dict[str, str]:
    """What a client of the stack needs: the API with its basic-auth string, and the S3 store."""
    return {
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_API_AUTH_STRING": secrets.prefect_auth_string,
        "PREFECT_UI_URL": settings.ui_url + UI_LINKS_PATH,
        "DRIFTLOOP_STORAGE_URL": settings.storage_url,
        "DRIFTLOOP_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "DRIFTLOOP_S3_ACCESS_KEY_ID": secrets.s3_access_key,
        "DRIFTLOOP_S3_SECRET_ACCESS_KEY": secrets.s3_secret_key,
    }


def server_spec(settings: StackSettings, secrets: StackSecrets, log: Path) -> Launch:
    home = settings.state / "prefect-server"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **_inherited(),
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


def worker_spec(settings: StackSettings, secrets: StackSecrets, pool: str, log: Path) -> Launch:
    """A process worker in the project folder; the runs it starts inherit the store settings."""
    home = settings.state / "prefect-worker"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **_inherited(),
        **QUIET,
        **client_env(settings, secrets),
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "5"),
        "DRIFTLOOP_PROJECT_DIR": str(PROJECT_DIR),  # the deployments' pull step changes into it
    }
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    argv += ["--name", WORKER_NAME]
    return Launch("worker", argv, env, PROJECT_DIR, log)


def auth_header(secrets: StackSecrets) -> dict[str, str]:
    token = base64.b64encode(secrets.prefect_auth_string.encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _api(settings: StackSettings, secrets: StackSecrets, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(
            method, settings.prefect_api_url + path, headers=auth_header(secrets), timeout=5, **kwargs
        )
    except httpx.HTTPError:
        return None
    return response.json() if response.is_success else None


def server_answers(settings: StackSettings, secrets: StackSecrets) -> bool | None:
    return True if _api(settings, secrets, "GET", "/health") is True else None


def worker_online(settings: StackSettings, secrets: StackSecrets, pool: str) -> bool | None:
    workers = _api(settings, secrets, "POST", f"/work_pools/{pool}/workers/filter", json={}) or []
    online = [w for w in workers if w.get("name") == WORKER_NAME and w.get("status") == "ONLINE"]
    return True if online else None
