"""The environment an entry point gives Prefect: defaults only, and run failures kept off the console."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from deployments.environment import (
    _RunFailuresStayInTheUI,
    _SaidOnce,
    mute_prefect_services,
    prefect_environment,
)
from driftloop.core.settings import Settings

PREFECT_VARIABLES = (
    "PREFECT_HOME",
    "PREFECT_RESULTS_LOCAL_STORAGE_PATH",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL",
    "PREFECT_CLIENT_MAX_RETRIES",
)


def test_prefect_environment_sets_defaults_but_never_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in PREFECT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")  # the user's choice stands
    monkeypatch.chdir(tmp_path)

    prefect_environment(Settings.load(store=str(tmp_path / "store")))

    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
    assert Path(os.environ["PREFECT_HOME"]) == tmp_path / ".driftloop" / "prefect"
    assert Path(os.environ["PREFECT_HOME"]).is_dir()  # Prefect itself only makes the last level
    assert Path(os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"]) == tmp_path / "store" / "_prefect_results"
    assert os.environ["PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"] == "WARNING"
    # Issue 19, finding 10: Prefect's 5 retries with backoff kept a run going for minutes on a dead server.
    assert os.environ["PREFECT_CLIENT_MAX_RETRIES"] == "1"


def test_prefect_client_retries_set_by_the_user_stand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "5")
    prefect_environment(Settings.load(store=str(tmp_path / "store")))
    assert os.environ["PREFECT_CLIENT_MAX_RETRIES"] == "5"


def test_prefect_environment_leaves_results_alone_for_s3_stores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PREFECT_RESULTS_LOCAL_STORAGE_PATH", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    prefect_environment(Settings.load(store="s3://bucket/prefix"))
    assert "PREFECT_RESULTS_LOCAL_STORAGE_PATH" not in os.environ


@pytest.mark.parametrize(
    ("logger", "level", "shown"),
    [
        ("prefect.flow_runs", logging.ERROR, False),  # the CLI prints its own one line for these
        ("prefect.task_runs", logging.CRITICAL, False),
        ("prefect.flow_runs", logging.WARNING, True),  # a blocked period's warning stays
        ("prefect.flow_runs", logging.INFO, True),  # progress stays
        ("prefect.server", logging.ERROR, True),  # anything else is not ours to hide
    ],
)
def test_run_failures_stay_in_the_ui_not_the_console(logger: str, level: int, shown: bool) -> None:
    record = logging.LogRecord(logger, level, __file__, 1, "message", None, None)
    assert _RunFailuresStayInTheUI().filter(record) is shown


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("Finished in state Failed('Flow run encountered an exception: StoreUnavailable: ...')", False),
        ("Finished in state Crashed('Flow run process exited')", False),
        ("Finished in state Completed()", True),
        ("Finished in state Waiting for data('...')", True),
    ],
)
def test_a_failed_run_is_said_once_by_the_cli_not_twice(message: str, shown: bool) -> None:
    record = logging.LogRecord("prefect.flow_runs", logging.INFO, __file__, 1, message, None, None)
    assert _RunFailuresStayInTheUI().filter(record) is shown


def test_a_background_service_complains_once_not_once_per_item() -> None:
    """The API down: the events worker fails on every event it holds; the console shows the first."""
    said_once = _SaidOnce()

    def shown(name: str, level: int, message: str) -> bool:
        return said_once.filter(logging.LogRecord(name, level, __file__, 1, message, None, None))

    internal, failed = "prefect._internal.concurrency", "Service 'EventsWorker' failed to process item"
    failures = [shown(internal, logging.ERROR, f"{failed} Event(id={i})") for i in range(5)]
    other = shown("prefect.events.clients", logging.WARNING, "Unable to connect to 'ws://127.0.0.1:1/api'")
    progress = [shown(internal, logging.INFO, "tick") for _ in range(2)]

    assert (failures, other, progress) == ([True, False, False, False, False], True, [True, True])


def test_once_the_command_has_said_why_it_failed_the_services_say_nothing_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API died under a run: the command's line names it; the events worker's complaints at exit, after
    that line, would only repeat it (issue 19, finding 10)."""
    monkeypatch.setattr(_SaidOnce, "muted", False)
    said_once = _SaidOnce()

    def shown(name: str, level: int) -> bool:
        return said_once.filter(logging.LogRecord(name, level, __file__, 1, "Unable to connect", None, None))

    before = shown("prefect.events.clients", logging.WARNING)
    mute_prefect_services()
    after = [shown("prefect.events.clients", logging.WARNING), shown("prefect._internal.x", logging.ERROR)]

    assert (before, after, shown("prefect.flow_runs", logging.INFO)) == (True, [False, False], True)
