"""The `driftloop` command line: one verb per lifecycle phase, each calling one flow (or domain function).

`app` is the Typer application, `main` runs it and turns any failure into one line and an exit code,
`entry` is the console script.
"""

from deployments.cli.app import app, main
from deployments.cli.console import entry

__all__ = ["app", "entry", "main"]
