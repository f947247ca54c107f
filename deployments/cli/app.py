"""`driftloop`: the command line. Each verb calls one flow (or one domain function) and prints its result.

Settings are loaded once per command, at the entry point (`deployments.cli.options`). A mistake gets one
line and a documented exit code (`deployments.errors.ExitCode`); `--debug` shows the traceback.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import typer

from deployments.cli.contract import contract_app
from deployments.cli.options import Command
from deployments.cli.phases import ingest, monitor, score, train, validate
from deployments.cli.registry import models, reproduce
from deployments.cli.replay import backtest, run
from deployments.cli.serve import serve
from deployments.cli.traffic import traffic
from deployments.errors import ExitCode, classify
from deployments.stack.cli import stack_app

app = typer.Typer(
    help="driftloop: an ML lifecycle on Prefect. Data contracts gate training; drift starts retraining.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for verb in (run, backtest, validate, ingest, train, score, monitor, models, reproduce, serve, traffic):
    app.command()(verb)
app.add_typer(stack_app, name="stack")
app.add_typer(contract_app, name="contract")


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks and debug logs")] = False,
) -> None:
    Command.debug = debug


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: a command stops as on Ctrl-C, its flow run is marked crashed,
    and what it started (a temporary Prefect server, temporary files) is cleaned up on the way out.
    Python's default for SIGTERM ends the process at once, with none of that."""


# Set by the handler: click turns the interrupt into exit code 130 (or not), which says nothing of SIGTERM.
_TERMINATED = threading.Event()


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    _TERMINATED.set()
    raise Terminated("SIGTERM")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only the main thread takes signals
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run a verb, turn any failure into one line and its exit code."""
    _TERMINATED.clear()
    try:
        with _sigterm_as_interrupt(), Command.resources:
            returned = app(args=argv, standalone_mode=False)  # click returns a command's exit code here
    except (typer.Abort, KeyboardInterrupt):  # click turns Ctrl-C (and SIGTERM) into its exit code, or not
        returned = ExitCode.INTERRUPTED
    except typer.TyperException as usage:  # a wrong option, a missing argument, a bad value
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        typer.echo(f"error: {message}", err=True)
        return ExitCode.USAGE
    except Exception as error:
        code, message = classify(error)
        if Command.debug:  # the traceback too, and the same exit code: a script's `--debug` run exits alike
            traceback.print_exception(error)
        typer.echo(f"error: {message}", err=True)
        return code
    if _TERMINATED.is_set() or returned == ExitCode.INTERRUPTED:
        stopped = "terminated (SIGTERM)" if _TERMINATED.is_set() else "interrupted"
        typer.echo(f"{stopped}: stopped cleanly; run the command again to finish", err=True)
        return ExitCode.TERMINATED if _TERMINATED.is_set() else ExitCode.INTERRUPTED
    return returned if isinstance(returned, int) else ExitCode.OK
