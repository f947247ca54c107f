"""The `driftloop` console script: a plain `validate` goes to the warm validator when one runs, any other
command (and a `validate` with none to use) runs in this process (`deployments.cli.app.main`)."""

from __future__ import annotations

import gc
import sys

import typer

from deployments.cli.app import main
from deployments.cli.warm_validator import is_validate, run_warm, start_beside
from deployments.environment import ValidatorSettings, mute_prefect_services
from deployments.errors import ExitCode, classify


def _validate_warm(argv: list[str]) -> int | None:
    """`validate` run by the warm validator (`deployments.cli.warm_validator`), or None when there is none:
    then this process validates, and one is started beside it for the next `validate`."""
    try:
        settings = ValidatorSettings()
    except Exception as error:  # a setting that does not parse: one line, as any command's mistake
        code, message = classify(error)
        typer.echo(f"error: {message}", err=True)
        return code
    code = run_warm(argv, settings)
    if code is None and (pid := start_beside(settings)) is not None:
        typer.echo(
            f"Started a warm validator (pid {pid}) for the next `driftloop validate`; it stops after "
            f"{settings.idle_timeout_seconds} s without one (DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS)",
            err=True,
        )
    return code


def entry() -> None:  # pragma: no cover - the `driftloop` console script
    argv = sys.argv[1:]
    code = _validate_warm(argv) if is_validate(argv) else None
    if code is None:
        code = main()
    if code == ExitCode.INFRASTRUCTURE:
        mute_prefect_services()  # the services' complaints as the process ends would repeat its one line
    # The process ends here. Python's last garbage collection would walk every object Prefect, pandas and
    # LightGBM made (0.3-0.4 s); frozen, they are left to the end of the process. Exit handlers still run.
    gc.freeze()
    sys.exit(code)
