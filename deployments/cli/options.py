"""What every verb shares: the --store and --contract options, settings loaded once, checked period labels.

Also the process state of one command: `--debug`, and what a verb entered for the rest of its process
(Prefect's settings for its API), which `deployments.cli.main` closes when the verb ends. Nothing heavy is
imported here: each verb imports what it uses, so `driftloop --help` and `driftloop models` stay fast.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from driftloop.core.settings import Settings

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="artifact store URL (path, file://… or s3://…); default from settings"),
]
ContractOption = Annotated[
    str | None,
    typer.Option("--contract", help="data contract YAML; default DRIFTLOOP_DATA_CONTRACT or flights"),
]


class Command:
    """The running command's state: whether to show tracebacks, and what to close when it ends."""

    debug = False
    resources = contextlib.ExitStack()


def settings_for(store: str | None = None, contract: str | None = None) -> Settings:
    """Settings from the environment, command-line overrides applied once, Prefect's defaults set."""
    from deployments.environment import prefect_environment
    from driftloop.core.settings import Settings

    settings = Settings.load(store=store, contract=contract)
    prefect_environment(settings)
    _arm_fault()
    return settings


def _arm_fault() -> None:
    """The fault suite's hook (`driftloop.core.faults`): inert unless DRIFTLOOP_FAULT_AT names a step."""
    from deployments.errors import UsageError
    from driftloop.core.faults import FaultSettings, arm

    try:
        arm(FaultSettings())
    except ValueError as wrong:
        raise UsageError(str(wrong)) from None


def connect_prefect() -> None:
    """Point this command's flow runs at a Prefect API; a verb calls it once its arguments are checked.

    PREFECT_API_URL (`driftloop stack env`, a server of your own, a Prefect profile) wins. Else the local
    server of the embedded default, started now if none runs (`deployments.cli.prefect_server`); with
    DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS=0, a server for this command only, stopped as it ends. Prefect's
    console then keeps run failures to the one line `main` prints (the UI keeps the tracebacks; `--debug`
    shows them here too).
    """
    from prefect.settings import PREFECT_API_URL

    from deployments.cli.prefect_server import STOP_SECONDS, local_server
    from deployments.environment import PrefectRuntimeSettings, embedded_prefect, quiet_console
    from deployments.stack.processes import stop

    runtime = PrefectRuntimeSettings()
    api_url = auth_string = None
    if not PREFECT_API_URL.value():
        server = local_server(runtime)
        api_url, auth_string = server.api_url, server.auth_string
        if not runtime.idle_timeout_seconds:
            Command.resources.callback(stop, server.process, STOP_SECONDS)
        elif server.started:
            typer.echo(
                f"Started the local Prefect server at {api_url} (pid {server.process.pid}); it stops "
                f"after {runtime.idle_timeout_seconds} s without a request "
                "(DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS)",
                err=True,
            )
    Command.resources.enter_context(embedded_prefect(api_url, auth_string))
    if not Command.debug:
        quiet_console()


def period_label(settings: Settings, label: str) -> str:
    """A period label checked against the contract's period before any flow (or server) starts."""
    from driftloop.core.contract import load_contract
    from driftloop.core.periods import check_period

    return check_period(label, load_contract(settings.data.contract).time.period)
