"""`python -m deployments.cli`: the same as the `driftloop` command."""

from deployments.cli.app import entry

entry()
