"""Issue 19, crash points: a real command killed (SIGKILL) at each named step of its write path.

Each command is killed at every step it passes, in the order it passes them, each kill on the store the
previous one left: after each, the registry checks out and no process of the killed run is left. Then a
run to the end gives what a run never killed gives (the same model bytes, versions and promotions), and
no temporary file the kills left survives it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.errors import ExitCode
from driftloop.core import layout
from tests.faults.harness import (
    AS_SLICE_SETTINGS,
    EVERY_PERIOD,
    TRAIN,
    Cli,
    checks_out,
    copied,
    registry_table,
    temporary_files,
)
from tests.flows.test_lifecycle import GOLDEN_SLICE_TABLE

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

TRAIN_STEPS = (  # after those of ingest, which `test_ingest_...` kills
    "register.claimed",
    "register.blobs-stored",
    "register.committed",
    "promote.judged",
    "promote.logged",
)


def test_train_killed_at_every_step_ends_as_a_train_never_killed(trained: Cli, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store", trained.contract)
    for step in TRAIN_STEPS:
        cli.killed_at(step, *TRAIN)
        checks_out(cli)

    done = cli.run(*TRAIN)

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert registry_table(cli) == registry_table(trained)
    assert temporary_files(cli.store) == []
    checks_out(cli)


MONITOR = ("monitor", "2013-06")
MONITOR_STEPS = ("monitor.report-stored", "monitor.verdict-stored", "retrain.requested")


def test_monitor_killed_at_every_step_ends_as_a_monitor_never_killed(trained: Cli, tmp_path: Path) -> None:
    never = copied(trained, tmp_path / "never-killed" / "store")
    expected = never.run(*MONITOR, **EVERY_PERIOD)
    assert expected.returncode == ExitCode.OK, expected.stdout + expected.stderr
    cli = copied(trained, tmp_path / "killed" / "store")
    for step in MONITOR_STEPS:
        cli.killed_at(step, *MONITOR, **EVERY_PERIOD)
        checks_out(cli)

    done = cli.run(*MONITOR, **EVERY_PERIOD)

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert done.stdout.replace(str(cli.store), "STORE") == expected.stdout.replace(str(never.store), "STORE")
    assert temporary_files(cli.store) == []


def test_run_killed_mid_replay_then_rerun_prints_the_table_of_a_run_never_killed(
    file_source: Path, tmp_path: Path
) -> None:
    """The main job killed while it monitors its first replayed month; the rerun (which moves the killed
    run's store aside, as any rerun of `run` does) prints the table of a run never killed: the golden
    table of tests/flows/test_lifecycle.py up to May (each row depends only on the months before it)."""
    cli = Cli(tmp_path / "store", file_source)
    replay = ("run", "--replay-to", "2013-05")
    env = EVERY_PERIOD | AS_SLICE_SETTINGS
    cli.killed_at("monitor.verdict-stored", *replay, **env)
    checks_out(cli)
    assert cli.registry().champion() is not None, "killed after the initial training was promoted"

    done = cli.run(*replay, **env)

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    until_may = GOLDEN_SLICE_TABLE[: GOLDEN_SLICE_TABLE.index("2013-06")]
    assert until_may in done.stdout
    assert "2013-06" not in done.stdout
    checks_out(cli)
    [archived] = (tmp_path / ".driftloop" / "archive").iterdir()
    checks_out(Cli(archived, file_source))


INGEST = ("ingest", "2013-07")
INGEST_STEPS = ("ingest.batch-stored", "store.renaming", "gate.history-written")


def test_ingest_killed_at_every_step_ends_as_an_ingest_never_killed(trained: Cli, tmp_path: Path) -> None:
    """The first kill is of a command with its own Prefect server (DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS=0):
    issue 19, finding 2, `kill -9` used to leave that server running for ever; `Cli.run` fails the test if
    any process of a command is left LINGER_SECONDS after it ended."""
    never = copied(trained, tmp_path / "never-killed" / "store")
    expected = never.run(*INGEST)
    assert expected.returncode == ExitCode.OK, expected.stdout + expected.stderr
    cli = copied(trained, tmp_path / "killed" / "store")
    own_server = {"PREFECT_API_URL": "", "DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS": "0"}
    left = []
    for step in INGEST_STEPS:
        cli.killed_at(step, *INGEST, **(own_server if step == INGEST_STEPS[0] else {}))
        left += temporary_files(cli.store)

    done = cli.run(*INGEST)

    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert done.stdout == expected.stdout
    assert left, "no kill left a temporary file: the check below would prove nothing"
    assert temporary_files(cli.store) == []
    validated = layout.validated("flights", "2013-07")
    assert _version(cli.store / validated) == _version(never.store / validated)


def _version(validated: Path) -> str:
    return str(json.loads(validated.read_text())["version"]["sha256"])


@pytest.mark.parametrize(
    ("error", "advice"), [("enospc", "No space left on device"), ("erofs", "Read-only file system")]
)
def test_a_store_that_is_full_or_read_only_is_exit_5_naming_the_file_and_a_rerun_completes(
    trained: Cli, tmp_path: Path, error: str, advice: str
) -> None:
    """The store's file system refuses every write from the gate's report on (injected: a real full or
    read-only file system needs privileges this suite does not have); then there is room again."""
    cli = copied(trained, tmp_path / "store")
    refused = cli.run(*INGEST, DRIFTLOOP_FAULT_AT="store.renaming", DRIFTLOOP_FAULT_ACTION=error)

    assert refused.returncode == ExitCode.INFRASTRUCTURE, refused.stdout + refused.stderr
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: cannot use {cli.store}/") and advice in line
    assert "Traceback" not in refused.stdout + refused.stderr
    assert temporary_files(cli.store) == []
    assert not (cli.store / layout.validated("flights", "2013-07")).exists()
    checks_out(cli)
    assert cli.run(*INGEST).returncode == ExitCode.OK
