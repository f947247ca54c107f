"""`driftloop serve` refuses what it cannot serve on one line, with the documented exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.cli import main
from deployments.errors import ExitCode
from tests.servers import LOOPBACK, free_port


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    _, err = capsys.readouterr()
    return code, err


def test_serve_is_a_verb_with_its_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deployments.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--port" in out and "--workers" in out and "--store" in out and "/predict" in out


def test_a_port_in_use_is_a_usage_error_naming_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_cli(capsys, "serve", "--store", str(tmp_path), "--port", str(port))

    assert code == ExitCode.USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err and len(err.splitlines()) == 1


def test_the_port_comes_from_settings_when_not_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("DRIFTLOOP_SERVE_PORT", str(port))
        code, err = run_cli(capsys, "serve", "--store", str(tmp_path))

    assert code == ExitCode.USAGE and f"127.0.0.1:{port}" in err


def test_a_missing_contract_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run_cli(capsys, "serve", "--store", str(tmp_path), "--contract", str(tmp_path / "no.yaml"))
    assert code == ExitCode.USAGE and "no.yaml" in err and "cannot read the contract" in err


def test_an_unreachable_s3_store_is_an_infrastructure_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLOOP_S3_ENDPOINT_URL", f"http://{LOOPBACK}:{free_port()}")
    monkeypatch.setenv("DRIFTLOOP_S3_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("DRIFTLOOP_S3_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("DRIFTLOOP_S3_MAX_ATTEMPTS", "1")

    code, err = run_cli(capsys, "serve", "--store", "s3://nowhere/store", "--port", str(free_port()))

    assert code == ExitCode.INFRASTRUCTURE and "DRIFTLOOP_S3_ENDPOINT_URL" in err
    assert "DRIFTLOOP_STORAGE_URL" not in os.environ  # nothing is written before the checks pass
