"""`driftloop serve`: the online prediction service under uvicorn, on 127.0.0.1 by default.

Each worker process builds its app from the environment (`deployments.service:app_from_environment`),
so this command writes its overrides (`--store`, `--contract`, `--port`, `--workers`) there first.

It also makes the folder of prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`): private
(0700, from `tempfile.mkdtemp`), new for each run so no count of an earlier run is summed in, set before
uvicorn starts a worker (and before anything imports prometheus_client), removed when uvicorn returns.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from typing import Annotated

import typer

from deployments.cli.options import ContractOption, StoreOption
from driftloop.core.settings import Settings

# prometheus-client reads it when it is first imported: named here, since importing it from
# driftloop.online.metrics would import prometheus_client before the variable is set.
MULTIPROCESS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise typer.BadParameter(
                f"cannot listen on {host}:{port} ({error.strerror}): choose another port "
                "(--port or DRIFTLOOP_SERVE_PORT)",
                param_hint="--port",
            ) from None


def serve(
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="TCP port; default 8000")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes; default 1")] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Serve the champion online: POST /predict, GET /health, /model, /stats, /metrics, docs at /docs.

    The service follows the champion alias (every DRIFTLOOP_SERVE_POLL_SECONDS) and swaps in a newly
    promoted model without a restart; with DRIFTLOOP_SERVE_SHADOW=true the newest challenger registered
    after the champion scores every request too, logged beside it, never returned. Settings:
    DRIFTLOOP_SERVE_* (see docs/serving.md).
    """
    import uvicorn

    from driftloop.lifecycle.runtime import open_runtime

    settings = Settings.load(store=store, contract=contract)
    overrides = {"port": port, "workers": workers}
    serving = settings.serving.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    open_runtime(settings)  # a wrong contract or an unreachable store: one line here, not a crash in a worker
    _check_free(serving.host, serving.port)
    os.environ.update(
        {
            "DRIFTLOOP_STORAGE_URL": settings.storage.url,
            "DRIFTLOOP_DATA_CONTRACT": settings.data.contract,
            "DRIFTLOOP_SERVE_PORT": str(serving.port),
            "DRIFTLOOP_SERVE_WORKERS": str(serving.workers),
        }
    )
    typer.echo(
        f"driftloop serve: http://{serving.host}:{serving.port} (docs at /docs), "
        f"{serving.workers} worker(s), store {settings.storage.url}"
        + (
            ", shadow on (the newest unpromoted challenger scores every request, logged only)"
            if serving.shadow
            else ""
        )
    )
    metrics = tempfile.mkdtemp(prefix="driftloop-metrics-")  # 0700: this user's alone
    os.environ[MULTIPROCESS_FOLDER] = metrics
    try:
        uvicorn.run(
            "deployments.service:app_from_environment",
            factory=True,
            host=serving.host,
            port=serving.port,
            workers=serving.workers,
            loop="uvloop",
            http="httptools",
            access_log=serving.access_log,
            log_level="info",
            timeout_graceful_shutdown=30,
        )
    finally:
        del os.environ[MULTIPROCESS_FOLDER]
        shutil.rmtree(metrics, ignore_errors=True)
