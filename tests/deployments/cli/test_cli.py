"""The command line: the verbs a user expects, exit codes and one-line messages at any terminal width."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from deployments.cli import main
from deployments.cli.replay import _archive_local_store
from deployments.errors import ExitCode
from driftloop.core.contract import Contract
from driftloop.data.batches import cut_period
from tests.conftest import FLIGHTS_CONTRACT, REPO
from tests.servers import answering


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def january(
    flights_table: pd.DataFrame, flights_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("batches") / "2013-01.parquet"
    cut_period(flights_table, flights_contract, "2013-01").to_parquet(path, index=False)
    return path


def test_help_lists_the_lifecycle_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    verbs = {line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert {"run", "validate", "ingest", "train", "score", "monitor", "models", "reproduce"} <= verbs


def test_importing_the_cli_does_not_import_the_heavy_libraries() -> None:
    """`driftloop --help` stays fast: Prefect, LightGBM, GX and pandas load only in the verbs using them."""
    heavy = ("prefect", "lightgbm", "great_expectations", "pandas")
    code = f"import sys, deployments.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_validate_passes_a_real_month(capsys: pytest.CaptureFixture[str], january: Path) -> None:
    code, out, _ = run_cli(capsys, "validate", str(january), "--contract", str(FLIGHTS_CONTRACT))
    assert code == ExitCode.OK, out
    assert out.strip() == "Batch passes data contract 'flights' v4: 82 rules checked on 27,004 rows"


def test_validate_fails_naming_every_broken_rule(
    capsys: pytest.CaptureFixture[str], january: Path, tmp_path: Path
) -> None:
    batch = pd.read_parquet(january).drop(columns=["distance"])
    batch["dep_delay"] = batch["dep_delay"].where(batch.index % 2 == 0)  # 50% nulls, limit 10%
    batch.loc[:9, "origin"] = "XXX"
    bad = tmp_path / "bad.csv"
    batch.to_csv(bad, index=False)
    report = tmp_path / "report.json"

    code, out, _ = run_cli(
        capsys, "validate", str(bad), "--contract", str(FLIGHTS_CONTRACT), "--json", str(report)
    )

    assert code == ExitCode.CONTRACT_VIOLATION
    lines = out.splitlines()
    assert lines[0] == "Batch breaks data contract 'flights' v4: 3 rule(s)"
    assert lines[1] == (
        "  - dep_delay: max_null_fraction expected <= 10% nulls, observed 50.9% nulls (13,757 of 27,004 rows)"
    )
    assert lines[2].startswith("  - origin: allowed expected in [EWR, JFK, LGA], observed 10 of 27,004")
    assert lines[3] == "  - distance: exists expected column present, observed column missing"
    failures = [(f["column"], f["rule"]) for f in json.loads(report.read_text())["failures"]]
    assert failures == [("dep_delay", "max_null_fraction"), ("origin", "allowed"), ("distance", "exists")]


def test_validate_cuts_one_period_out_of_a_longer_export(
    capsys: pytest.CaptureFixture[str],
    flights_table: pd.DataFrame,
    flights_contract: Contract,
    tmp_path: Path,
) -> None:
    two_months = tmp_path / "q1.parquet"
    months = [cut_period(flights_table, flights_contract, month) for month in ("2013-01", "2013-02")]
    pd.concat(months).to_parquet(two_months, index=False)

    code, out, _ = run_cli(capsys, "validate", str(two_months), "--contract", str(FLIGHTS_CONTRACT))
    assert code == ExitCode.CONTRACT_VIOLATION
    assert "row_count expected between 20,000 and 40,000 rows, observed 51,955 rows" in out
    code, out, _ = run_cli(
        capsys, "validate", str(two_months), "--contract", str(FLIGHTS_CONTRACT), "--period", "2013-02"
    )
    assert code == ExitCode.OK, out
    assert "24,951 rows" in out


def test_a_missing_file_is_one_line_naming_it_at_any_width(tmp_path: Path) -> None:
    """No traceback and no wrapped box, however long the path and however narrow the terminal."""
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 6)) / "nope.csv"
    done = subprocess.run(
        [sys.executable, "-m", "deployments.cli", "validate", str(deep), "--contract", str(FLIGHTS_CONTRACT)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**_plain_env(), "COLUMNS": "80"},
    )
    assert done.returncode == ExitCode.UNREADABLE_INPUT
    assert done.stderr.strip() == f"error: {deep}: no such file"
    assert "Traceback" not in done.stdout + done.stderr


def test_a_wrong_option_is_a_usage_error_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "train", "--as-of")
    assert code == ExitCode.USAGE
    assert err.strip() == "error: Option '--as-of' requires an argument."


def test_a_period_of_the_wrong_kind_says_the_expected_form(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "ingest", "2013-4", "--store", str(tmp_path / "store"), "--contract", str(FLIGHTS_CONTRACT)
    )
    assert code == ExitCode.USAGE
    assert err.strip() == "error: '2013-4' is not a month label: a month is written like 2013-04"


def test_models_on_an_empty_store_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "models", "--store", str(tmp_path / "store"))
    assert code == ExitCode.OK, out
    assert (
        out.splitlines()[0]
        == f"Model flights-delay in {(tmp_path / 'store').as_uri()}: 0 version(s), champion none"
    )


def test_run_archives_an_earlier_local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / ".driftloop" / "store"
    assert _archive_local_store(str(store)) is None  # nothing there yet
    (store / "registry" / "flights-delay" / "versions").mkdir(parents=True)
    (store / "registry" / "flights-delay" / "versions" / "0001.json").write_text("{}")

    moved = _archive_local_store(str(store))

    assert moved is not None and moved.parent == (tmp_path / ".driftloop" / "archive").resolve()
    assert (moved / "registry" / "flights-delay" / "versions" / "0001.json").read_text() == "{}"
    assert not store.exists()
    assert _archive_local_store("s3://bucket/prefix") is None  # remote stores are never moved


def test_a_prefect_api_out_of_reach_or_refusing_is_one_line_and_exit_5(tmp_path: Path) -> None:
    """Whether nothing listens at PREFECT_API_URL or it answers 401, the user gets one line saying which."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/api"
    argv = [sys.executable, "-m", "deployments.cli", "monitor", "2013-04", "--store", str(tmp_path / "store")]
    with answering(401, b'{"exception_message": "Unauthorized"}') as refusing:
        runs = {
            url: subprocess.run(
                argv,
                cwd=REPO,
                capture_output=True,
                text=True,
                env={**_plain_env(), "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": "a:wrong"},
            )
            for url in (closed, f"{refusing}/api")
        }

    unreachable, refused = runs[closed], runs[f"{refusing}/api"]
    assert (unreachable.returncode, refused.returncode) == (ExitCode.INFRASTRUCTURE, ExitCode.INFRASTRUCTURE)
    assert unreachable.stderr.startswith(f"error: cannot reach the Prefect API at {closed} (")
    assert "is the server up? (PREFECT_API_URL" in unreachable.stderr
    assert refused.stderr.startswith(
        f"error: the Prefect API at {refusing}/api refused the credentials (HTTP 401)"
    )
    assert "PREFECT_API_AUTH_STRING" in refused.stderr
    for done in runs.values():
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stdout + done.stderr


def _plain_env() -> dict[str, str]:
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
    return {**env, "DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS": "0"}  # `validate` in its own process


def test_sigterm_stops_a_command_as_cleanly_as_ctrl_c(tmp_path: Path) -> None:
    """Issue 19, finding 2: SIGTERM (what `kill`, systemd and Kubernetes send) used to end a command at
    once, its flow run left running and its temporary Prefect server orphaned. Now it is one line, exit 143,
    the run's server gone with it and nothing half-written; the signal lands while the flow runs."""
    import contextlib
    import os
    import signal

    import psutil

    children: list[psutil.Process] = []
    store = tmp_path / "store"
    argv = [sys.executable, "-m", "deployments.cli", "train", "--as-of", "2013-03", "--store", str(store)]
    # A temporary Prefect server, a child of the command; INFO logs, to see the flow run begin.
    env = {**_plain_env(), "DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS": "0", "PREFECT_LOGGING_LEVEL": "INFO"}
    process = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the flow run has begun: its server is up, its work under way
            lines.append(line)
            if "Beginning flow run" in line:
                break
        children = psutil.Process(process.pid).children(recursive=True)
        os.kill(process.pid, signal.SIGTERM)
        # Until the output closes: an orphaned server would hold it open, and this would time out.
        lines.append(process.communicate(timeout=60)[0])
        code = process.returncode
    finally:
        for leftover in [process, *children]:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                leftover.kill()
    output = "".join(lines)

    assert children, "the temporary Prefect server runs as a child of the command"
    assert code == ExitCode.TERMINATED, output
    assert "terminated (SIGTERM): stopped cleanly; run the command again to finish\n" in output
    assert "Traceback" not in output
    _, alive = psutil.wait_procs(children, timeout=15)
    assert alive == [], f"left running: {[child.cmdline() for child in alive]}"
    assert [path.name for path in store.rglob("*.tmp")] == []
