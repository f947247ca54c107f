"""The process environment an entry point gives Prefect, GX and Evidently before they are imported.

Only entry points (the CLI, a served deployment) call this; library code never writes the environment.
Everything here is a default: a variable already set (e.g. PREFECT_API_URL of a real server) wins.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftloop.core import layout
from driftloop.core.settings import Settings
from driftloop.core.storage import local_root

# Prefect's, GX's and Evidently's telemetry off (Evidently's reports never send; keep it off anyway).
NO_TELEMETRY = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


class PrefectRuntimeSettings(BaseSettings):
    """Where the embedded default keeps Prefect's state, and how long its local server lives."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_PREFECT_", frozen=True)

    home: str = Field(default=".driftloop/prefect", description="PREFECT_HOME: SQLite DB and results")
    startup_timeout_seconds: int = Field(default=120, description="local server start-up timeout")
    idle_timeout_seconds: int = Field(
        default=600,
        ge=0,
        description="the local server (127.0.0.1) stops after this long without a request; "
        "0: a temporary server per command",
    )
    client_max_retries: int = Field(
        default=1,
        ge=0,
        description="PREFECT_CLIENT_MAX_RETRIES unless set: retries of a failed call to the Prefect API "
        "(the n-th after 2^n s); 1 gives up within 30 s of the server dying (Prefect's 5, minutes)",
    )


class ValidatorSettings(BaseSettings):
    """Whether `driftloop validate` keeps a warm process for the next ones, and for how long."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_VALIDATOR_", frozen=True)

    home: str = Field(default=".driftloop/validator", description="the warm validator's socket and record")
    idle_timeout_seconds: int = Field(
        default=600,
        ge=0,
        description="the warm validator stops after this long without a request; 0: none, every "
        "`validate` imports Great Expectations itself",
    )


def prefect_environment(settings: Settings, runtime: PrefectRuntimeSettings | None = None) -> None:
    """The embedded default: a local Prefect server on SQLite under .driftloop/, no analytics, no network."""
    runtime = runtime or PrefectRuntimeSettings()
    os.environ.setdefault("PREFECT_HOME", str(Path(runtime.home).resolve()))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level
    for name, value in NO_TELEMETRY.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(runtime.startup_timeout_seconds)
    )
    # Each call to a dead server is retried with backoff, and a run makes several before it gives up.
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", str(runtime.client_max_retries))
    # Per-task "Finished in state Completed()" lines would bury the per-period progress lines.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    root = local_root(settings.storage.url)
    if root is not None:
        # Cached task results live inside the store, so deleting the store also forgets its cache.
        os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(root / layout.PREFECT_RESULTS))


@contextmanager
def embedded_prefect(api_url: str | None = None, auth_string: str | None = None) -> Iterator[None]:
    """Flow runs go to the local server at `api_url` (with its `auth_string`), or to a temporary one without
    it; with no heartbeats.

    Nothing changes when PREFECT_API_URL is set (the stack, production): runs go there, heartbeats on.
    A heartbeat lets a long-lived server's services mark a run whose process died as crashed. Neither the
    temporary server (it dies with the process) nor the local one (it runs only the services of an
    ephemeral server) runs them, so nothing reads them; and Prefect 3.8.8 joins the heartbeat thread at
    the end of every flow run, which costs up to 1 s (it sleeps in 1 s steps): most of a rerun that hits
    every cache.
    """
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    if PREFECT_API_URL.value():
        yield
        return
    updates: dict[Any, Any] = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if api_url is not None:
        updates |= {PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: auth_string}
    with temporary_settings(updates=updates):
        yield


class _RunFailuresStayInTheUI(logging.Filter):
    """Drop flow and task run errors from the console; the CLI prints one line for them instead.

    That includes the run's closing "Finished in state Failed(...)", which would say the same thing a
    second time. The records still reach Prefect's API handler, so the UI keeps every traceback.
    """

    FAILED = ("Finished in state Failed(", "Finished in state Crashed(")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        return record.levelno < logging.ERROR and not record.getMessage().startswith(self.FAILED)


class _SaidOnce(logging.Filter):
    """One line per complaint of Prefect's background services (events, log shipping), not one per item.

    With the API out of reach, the events worker warns and fails for every event it holds; the first of
    each says what is wrong, and the CLI's last line names the API and what to do.
    """

    SERVICES = ("prefect.events", "prefect._internal")
    muted = False  # set once the command has said why it failed (`mute_prefect_services`)

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.SERVICES):
            return True
        if _SaidOnce.muted:
            return False
        kind = (record.name, record.getMessage()[:40])
        if kind in self.seen:
            return False
        self.seen.add(kind)
        return True


class _DrainingIsNotNews(logging.Filter):
    """Drop "Still processing items: 6 items remaining..." of Prefect's event and log workers at exit.

    They send what they hold before the process ends (a failure to send is logged apart); the note came at
    the end of nearly every short flow verb, under its result.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Still processing items")


def mute_prefect_services() -> None:
    """Nothing more from Prefect's background services on the console: a command has said why it failed.

    With the API gone, the events and log workers complain once more as the process ends, after the
    command's one line that names the API and what to do (not with --debug, which shows everything).
    """
    _SaidOnce.muted = True


def quiet_console() -> None:
    """Set up Prefect's logging now and install the filters on its console handlers."""
    import prefect.main  # noqa: F401  (its import sets Prefect's logging up, every time: do it once, now)
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    # Prefect's API log handler writes "--- Error logging to API ---" to stderr for every batch it cannot
    # send; the stdlib's switch for handler errors in production turns that off (not with --debug).
    logging.raiseExceptions = False
    consoles = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    # Prefect's internal services log to a stderr handler of their own (it does not propagate).
    consoles += [
        h for h in logging.getLogger("prefect._internal").handlers if isinstance(h, logging.StreamHandler)
    ]
    once = _SaidOnce()
    for handler in consoles:
        for wanted in (_RunFailuresStayInTheUI, _SaidOnce, _DrainingIsNotNews):
            if not any(isinstance(f, wanted) for f in handler.filters):
                handler.addFilter(once if wanted is _SaidOnce else wanted())
