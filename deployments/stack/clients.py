"""The environment the stack gives whatever uses it: a shell (`stack env`), the worker's flow runs, the
Dask workers that run their tasks.

Everything a client needs is here: the Prefect API with its basic-auth string, the S3 store with its keys,
and, when the stack runs Dask, the scheduler's address with the client certificate's files.
"""

from __future__ import annotations

import os
from pathlib import Path

from deployments.environment import NO_TELEMETRY
from deployments.stack.certs import certificate_files
from deployments.stack.secrets import StackSecrets
from deployments.stack.settings import StackSettings

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Where "View at" links point: Prefect 3.8's default UI (v2), whose pages ask for the login themselves.
UI_LINKS_PATH = "/v2"
QUIET = {**NO_TELEMETRY, "MPLBACKEND": "Agg"}


def inherited() -> dict[str, str]:
    """This process's environment without Prefect profiles, API keys or AWS keys of the caller's own."""
    dropped = ("PREFECT_API_", "PREFECT_PROFILE", "PREFECT_HOME", "AWS_", "PREFECT_SERVER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def dask_client_env(settings: StackSettings) -> dict[str, str]:
    """`DaskSettings` for the stack's cluster: its address and the client certificate; none without Dask."""
    if not settings.dask_workers:
        return {}
    tls = certificate_files(settings.secrets / "tls").dask_client
    return {
        "DRIFTLOOP_DASK_ADDRESS": settings.dask_address,
        "DRIFTLOOP_DASK_TLS_CA_FILE": str(tls.ca),
        "DRIFTLOOP_DASK_TLS_CERT_FILE": str(tls.cert),
        "DRIFTLOOP_DASK_TLS_KEY_FILE": str(tls.key),
    }


def client_env(settings: StackSettings, secrets: StackSecrets) -> dict[str, str]:
    """What a client of the stack needs: the API with its basic-auth string, the S3 store, the cluster."""
    return {
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_API_AUTH_STRING": secrets.prefect_auth_string,
        "PREFECT_UI_URL": settings.ui_url + UI_LINKS_PATH,
        "DRIFTLOOP_STORAGE_URL": settings.storage_url,
        "DRIFTLOOP_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "DRIFTLOOP_S3_ACCESS_KEY_ID": secrets.s3_access_key,
        "DRIFTLOOP_S3_SECRET_ACCESS_KEY": secrets.s3_secret_key,
        **dask_client_env(settings),
    }


def runner_env(settings: StackSettings, secrets: StackSecrets) -> dict[str, str]:
    """The environment of a process that runs driftloop's code for the stack (the worker and its flow runs,
    a Dask worker): the `DRIFTLOOP_*` settings of the shell that ran `stack up`, pointed at the stack."""
    return {
        **inherited(),
        **QUIET,
        **client_env(settings, secrets),
        "DRIFTLOOP_PROJECT_DIR": str(PROJECT_DIR),  # the deployments' pull step changes into it
    }
