"""The warm validator: a later `driftloop validate` answered by a process that imported Great Expectations
once, with what the command run in its own process says and exits with.

Real console-script processes (`python -m deployments.cli`), each validator in a folder of the test's own.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from deployments.cli import main
from deployments.cli.warm_validator import LOG, SOCKET, STATE, stop_warm_validator
from deployments.environment import ValidatorSettings
from deployments.errors import ExitCode
from driftloop.core.contract import Contract
from driftloop.data.batches import cut_period
from tests.conftest import FLIGHTS_CONTRACT, REPO

STARTED = "Started a warm validator (pid "


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A working folder whose warm validator is stopped at the end of the test."""
    yield tmp_path
    stop_warm_validator(ValidatorSettings(home=str(tmp_path / "validator")))


def _validate(
    folder: Path, *argv: str, cwd: Path | None = None, flags: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess[str]:
    """`driftloop validate argv` in `cwd` (default `folder`), with the warm validator of `folder`."""
    plain = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
    return subprocess.run(
        [sys.executable, *flags, "-m", "deployments.cli", "validate", *argv],
        cwd=cwd or folder,
        env={**plain, "PYTHONPATH": str(REPO), "DRIFTLOOP_VALIDATOR_HOME": str(folder / "validator"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _warm(folder: Path) -> psutil.Process:
    """The warm validator once it listens (its record is written after the socket is bound)."""
    deadline = time.monotonic() + 60
    while not (folder / "validator" / STATE).exists():
        assert time.monotonic() < deadline, (folder / "validator" / LOG).read_text()
        time.sleep(0.1)
    return psutil.Process(json.loads((folder / "validator" / STATE).read_text())["pid"])


@pytest.fixture(scope="module")
def batches(
    flights_table: pd.DataFrame, flights_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("batches")
    january = cut_period(flights_table, flights_contract, "2013-01")
    january.to_parquet(out / "january.parquet", index=False)  # passes
    january.head(500).to_csv(out / "small.csv", index=False)  # 500 rows: below the contract's row count
    return out


def test_a_warm_validate_says_and_exits_what_the_command_itself_does(
    folder: Path, batches: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = ("--contract", str(FLIGHTS_CONTRACT))
    cases = [
        (("../batches-copy/january.parquet", *contract, "--json", "report.json"), ExitCode.OK),
        ((str(batches / "small.csv"), *contract), ExitCode.CONTRACT_VIOLATION),
        ((str(batches / "missing.csv"), *contract), ExitCode.UNREADABLE_INPUT),
        ((str(batches / "small.csv"), "--period", "2013-13", *contract), ExitCode.USAGE),
    ]
    work = folder / "work"
    work.mkdir()
    (folder / "batches-copy").symlink_to(batches)
    monkeypatch.chdir(work)
    expected = []  # what the command says and exits with, run here (`deployments.cli.main`)
    for argv, _ in cases:
        code = main(["validate", *argv])
        expected.append((code, *capsys.readouterr()))
    own_report = (work / "report.json").read_text()
    (work / "report.json").unlink()
    alone = _validate(folder, *cases[1][0], cwd=work, DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS="0")
    assert not (folder / "validator").exists()  # none started with an idle timeout of 0

    first = _validate(folder, *cases[0][0], cwd=work)  # runs in its own process, starts the warm validator
    process = _warm(folder)
    warm = [_validate(folder, *argv, cwd=work) for argv, _ in cases]

    assert (alone.returncode, alone.stdout, alone.stderr) == expected[1]
    assert first.stderr.startswith(STARTED) and (first.returncode, first.stdout) == expected[0][:2]
    for (argv, code), mine, theirs in zip(cases, warm, expected, strict=True):
        assert mine.returncode == theirs[0] == code, (argv, mine.stderr, theirs)
        assert (mine.stdout, mine.stderr) == theirs[1:], argv
    # The report went to the caller's folder, as the caller named it: the child works where the caller does.
    assert json.loads((work / "report.json").read_text()) == json.loads(own_report)
    # Each request's child has answered; the last may still be on its way out: none may stay behind.
    _, left = psutil.wait_procs(process.children(), timeout=10)
    assert process.is_running() and [p for p in left if p.status() != "zombie"] == []
    home = folder / "validator"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / SOCKET).stat().st_mode) == 0o600


def test_the_warm_validator_takes_the_callers_environment(folder: Path, batches: Path) -> None:
    """The contract named by DRIFTLOOP_DATA_CONTRACT in the caller's environment, not the process's."""
    small = str(batches / "small.csv")
    _validate(folder, small, "--contract", str(FLIGHTS_CONTRACT))
    _warm(folder)

    by_env = _validate(folder, small, DRIFTLOOP_DATA_CONTRACT=str(folder / "nowhere.yaml"))
    timed = _validate(folder, small, "--contract", str(FLIGHTS_CONTRACT), flags=("-X", "importtime"))

    assert by_env.returncode == ExitCode.USAGE
    assert str(folder / "nowhere.yaml") in by_env.stderr
    # The command that asked imported no Great Expectations, pandas or pyarrow: the warm validator had them.
    assert timed.returncode == ExitCode.CONTRACT_VIOLATION
    lines = [line for line in timed.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}
    assert imported and imported.isdisjoint({"great_expectations", "pandas", "pyarrow"})


def test_a_changed_file_retires_the_warm_validator_and_an_idle_one_stops(folder: Path, batches: Path) -> None:
    small = str(batches / "small.csv")
    contract = ("--contract", str(FLIGHTS_CONTRACT))
    _validate(folder, small, *contract, DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS="3")
    first = _warm(folder)
    changed = REPO / "deployments" / "cli" / "phases.py"  # a module it imported, edited since
    before = changed.stat()
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    try:
        again = _validate(folder, small, *contract, DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS="3")
    finally:
        os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert again.returncode == ExitCode.CONTRACT_VIOLATION
    assert again.stderr.startswith(STARTED)  # validated in its own process, and started a fresh one
    assert not first.is_running()
    second = _warm(folder)
    assert second.pid != first.pid
    second.wait(timeout=15)  # three seconds without a request
    assert not (folder / "validator" / STATE).exists() and not (folder / "validator" / SOCKET).exists()
