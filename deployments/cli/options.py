"""What every verb shares: the --store and --contract options, settings loaded once, checked period labels.

Also the process state of one command: `--debug`, and what a verb entered for the rest of its process
(Prefect's settings for the embedded server), which `deployments.cli.main` closes when the verb ends.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

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


def settings_for(store: str | None = None, contract: str | None = None, flows: bool = True) -> Settings:
    """Settings from the environment, command-line overrides applied once, Prefect's defaults set.

    With `flows`, Prefect is imported and its console keeps run failures to the one line `main` prints
    (the UI keeps the tracebacks; `--debug` shows them here too).
    """
    from deployments.environment import embedded_prefect, prefect_environment, quiet_console

    settings = Settings.load(store=store, contract=contract)
    prefect_environment(settings)
    if flows:
        Command.resources.enter_context(embedded_prefect())
        if not Command.debug:
            quiet_console()
    return settings


def period_label(settings: Settings, label: str) -> str:
    """A period label checked against the contract's period before any flow (or server) starts."""
    from driftloop.core.contract import load_contract
    from driftloop.core.periods import check_period

    return check_period(label, load_contract(settings.data.contract).time.period)
