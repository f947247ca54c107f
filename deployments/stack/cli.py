"""`driftloop stack up | down | status | apply | env`: the Typer sub-app the main CLI mounts."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import TypeVar

import typer

from deployments.errors import ExitCode
from deployments.stack.processes import StackError
from deployments.stack.settings import StackSettings

stack_app = typer.Typer(
    help="A secured local stack (PostgreSQL, Prefect server + UI, SeaweedFS S3, a worker) and `apply`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
T = TypeVar("T")


def _one_line(action: Callable[[], T]) -> T:
    """A stack failure, or an endpoint that cannot be reached, is one line and exit code 5."""
    import httpx

    try:
        return action()
    except (StackError, ConnectionError) as error:  # StoreUnavailable is a ConnectionError
        message = str(error)
    except httpx.TransportError as error:
        where = os.environ.get("PREFECT_API_URL", "the Prefect API")
        message = f"cannot reach {where} ({type(error).__name__}): is the server up? (PREFECT_API_URL)"
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        hint = " (PREFECT_API_AUTH_STRING or PREFECT_API_KEY)" if status in (401, 403) else ""
        message = f"{error.request.url} answered {status}{hint}"
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(ExitCode.INFRASTRUCTURE)


def _stack():
    from deployments.stack.stack import Stack

    return _one_line(lambda: Stack(StackSettings(), echo=typer.echo))


@stack_app.command()
def up() -> None:
    """Start every service (or check the running ones): each must pass its health check in time."""
    stack = _stack()
    _one_line(stack.up)
    settings = stack.settings
    typer.echo(
        f"\nUI: http://127.0.0.1:{settings.prefect_port} (user and password: PREFECT_API_AUTH_STRING from "
        f"`driftloop stack env`; secrets in {settings.secrets})\n"
        'Point a shell at the stack: eval "$(driftloop stack env)"; then: driftloop stack apply'
    )


@stack_app.command()
def down() -> None:
    """Stop exactly what `up` started (by recorded pid); data, logs and secrets stay."""
    stack = _stack()
    _one_line(stack.down)


@stack_app.command()
def status() -> None:
    """Each service, its URL and its health; exit 5 unless all are healthy."""
    rows = _stack().status()
    for row in rows:
        health = "healthy" if row.healthy else ("UNHEALTHY" if row.pid else "down")
        pid = f"pid {row.pid}" if row.pid else "-"
        typer.echo(f"{row.name:<15} {health:<10} {pid:<11} {row.url}")
    if not all(row.healthy for row in rows):
        raise typer.Exit(ExitCode.INFRASTRUCTURE)


@stack_app.command()
def env() -> None:
    """Shell `export` lines that point Prefect and driftloop at the local stack (for `eval`)."""
    for name, value in _stack().client_env().items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@stack_app.command()
def apply() -> None:
    """Make the Prefect API and the S3 bucket match infra/ (pool, deployments, automations, bucket).

    Targets PREFECT_API_URL and DRIFTLOOP_STORAGE_URL / DRIFTLOOP_S3_* when set, else the local stack.
    """
    from deployments.stack.declared import load_declarations

    declared = _one_line(load_declarations)
    if not os.environ.get("PREFECT_API_URL"):
        from deployments.stack.stack import require_running

        stack = _stack()
        _one_line(lambda: require_running(stack))
        for name, value in stack.client_env().items():
            os.environ.setdefault(name, value)
    from deployments.stack.apply import apply_declarations
    from driftloop.settings import S3Settings, StorageSettings

    changes = _one_line(
        lambda: apply_declarations(
            declared, StorageSettings().url, S3Settings(), lambda change: typer.echo(change.line())
        )
    )
    changed = [c for c in changes if c.action in ("created", "updated")]
    typer.echo(f"\n{len(changed)} change(s)" if changed else "\nnothing to change: everything matches infra/")
