"""`driftloop stack up | down | status | apply | env`: the Typer sub-app the main CLI mounts.

A failure here is one line and an exit code like everywhere else in the CLI (`deployments.errors`):
a service that does not come up, an endpoint out of reach, a declaration with a typo.
"""

from __future__ import annotations

import os
import shlex

import typer

from deployments.errors import ExitCode
from deployments.stack.settings import StackSettings

stack_app = typer.Typer(
    help="A secured local stack (PostgreSQL, Prefect server + UI, SeaweedFS S3, a worker, optionally a Dask "
    "cluster) and `apply`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _stack():
    from deployments.stack.stack import Stack

    return Stack(StackSettings(), echo=typer.echo)


@stack_app.command()
def up() -> None:
    """Start every service (or check the running ones): each must pass its health check in time."""
    stack = _stack()
    stack.up()
    settings = stack.settings
    typer.echo(
        f"\nUI: {settings.ui_url} (log in with PREFECT_API_AUTH_STRING from `driftloop stack env`; secrets "
        f"in {settings.secrets})\n"
        'Point a shell at the stack: eval "$(driftloop stack env)"; then: driftloop stack apply'
    )
    if settings.dask_workers:
        typer.echo(
            f"Dask: {settings.dask_address} with {settings.dask_workers} worker"
            f"{'s' if settings.dask_workers > 1 else ''}; a client needs the certificate "
            "`driftloop stack env` names (DRIFTLOOP_DASK_TLS_*)"
        )


@stack_app.command()
def down() -> None:
    """Stop exactly what `up` started (by recorded pid); data, logs and secrets stay."""
    _stack().down()


@stack_app.command()
def status() -> None:
    """Each service, its URL and its health; exit 5 unless all are healthy."""
    rows = _stack().status()
    for row in rows:
        health = "healthy" if row.healthy else ("UNHEALTHY" if row.pid else "down")
        pid = f"pid {row.pid}" if row.pid else "-"
        detail = f" ({row.detail})" if row.detail else ""
        typer.echo(f"{row.name:<15} {health:<10} {pid:<11} {row.url}{detail}")
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

    declared = load_declarations()
    if not os.environ.get("PREFECT_API_URL"):
        from deployments.stack.stack import require_running

        stack = _stack()
        require_running(stack)
        for name, value in stack.client_env().items():
            os.environ.setdefault(name, value)
    from deployments.stack.apply import apply_declarations
    from driftloop.core.settings import S3Settings, StorageSettings

    changes = apply_declarations(
        declared, StorageSettings().url, S3Settings(), lambda change: typer.echo(change.line())
    )
    changed = [c for c in changes if c.action in ("created", "updated")]
    typer.echo(f"\n{len(changed)} change(s)" if changed else "\nnothing to change: everything matches infra/")
