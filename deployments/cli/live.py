"""The service a live replay (`driftloop run --live`) sends its traffic to: `driftloop serve` on this run's
store and contract, on a free loopback port, in its own process, for as long as the replay runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftloop.core.settings import Settings

START_SECONDS = 60.0
STOP_SECONDS = 30.0  # uvicorn's graceful shutdown writes what the prediction log still holds
# The replay waits for each swap before the next period's traffic: a quick poll keeps that short.
LIVE_SERVING = {"DRIFTLOOP_SERVE_POLL_SECONDS": "1", "DRIFTLOOP_SERVE_LOG_FLUSH_SECONDS": "0.5"}


def _answers(url: str) -> bool | None:
    import httpx

    try:
        return True if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503) else None
    except httpx.HTTPError:
        return None


@contextmanager
def live_service(settings: Settings, folder: Path) -> Iterator[str]:
    """`driftloop serve` on a free loopback port until the block ends; yields its address once it answers
    (503 until the replay's first champion is registered: it follows the champion alias from then on).

    Args:
        settings: the run's settings: its store and contract are the service's.
        folder: where the service's log and pid file go.
    """
    from deployments.stack.ports import free_port
    from deployments.stack.processes import Launch, launch, stop, wait_until
    from deployments.stack.settings import LOOPBACK

    port = free_port()
    argv = [sys.executable, "-m", "deployments.cli", "serve", "--store", settings.storage.url,
            "--contract", settings.data.contract, "--port", str(port), "--workers", "1"]  # fmt: skip
    log = folder / "live-serve.log"
    spec = Launch(name="serve", argv=argv, env={**os.environ, **LIVE_SERVING}, cwd=Path.cwd(), log=log)
    process = launch(spec, folder / "live-serve.pid")
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until("the live replay's prediction service", lambda: _answers(url), START_SECONDS, process, log)
        yield url
    finally:
        stop(process, STOP_SECONDS)
