"""`python -m deployments.cli`: the same as the `driftloop` command."""

from deployments.cli.console import entry

entry()
