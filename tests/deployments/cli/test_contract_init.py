"""`driftloop contract init`: a draft on standard output (what to decide on standard error) that
`driftloop validate` passes on every period of its file; --output that refuses to overwrite; one line and
the documented exit code for each mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deployments.cli import main
from deployments.errors import ExitCode
from driftloop.core.contract import load_contract
from driftloop.data.sources import packaged_file

SEATTLE_QUARTERS = [f"{year}-Q{quarter}" for year in range(2012, 2016) for quarter in range(1, 5)]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seattle(tmp_path: Path) -> Path:
    """The raw Seattle weather CSV as vega_datasets ships it (dates written 2012/01/01)."""
    path = tmp_path / "seattle-weather.csv"
    shutil.copy(packaged_file("vega_datasets:_data/seattle-weather.csv"), path)
    return path


def _init(seattle: Path, *options: str) -> list[str]:
    return ["contract", "init", str(seattle), "--time", "date", "--target", "precipitation", *options]


def test_the_draft_goes_to_stdout_and_validate_passes_every_quarter_of_its_file(
    capsys: pytest.CaptureFixture[str], seattle: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, *_init(seattle, "--positive-above", "0"))

    assert code == ExitCode.OK, err
    draft = tmp_path / "draft.yaml"
    draft.write_text(out)
    contract = load_contract(draft)
    assert (contract.name, contract.source.path, contract.time.period) == (
        "seattle-weather",
        str(seattle),
        "quarter",
    )
    assert [line[:20] for line in out.splitlines() if "format" in line] == ['  format: "%Y/%m/%d"']
    lines = err.splitlines()
    assert lines[0] == (
        f"Drafted contract 'seattle-weather' from {seattle} to standard output: 1,461 rows, 6 columns, "
        "6 features, 16 quarters; the draft passes 16 of 16 quarters of the file."
    )
    assert lines[1] == "To decide before `driftloop run`:"
    assert lines[2].startswith("  - time.timezone UTC: the times carry no offset")
    for quarter in SEATTLE_QUARTERS:
        code, out, _ = run_cli(
            capsys, "validate", str(seattle), "--contract", str(draft), "--period", quarter
        )
        assert code == ExitCode.OK, out
        assert out.startswith("Batch passes data contract 'seattle-weather' v1")


def test_output_is_never_overwritten_without_force(
    capsys: pytest.CaptureFixture[str], seattle: Path, tmp_path: Path
) -> None:
    target = tmp_path / "seattle.yaml"
    target.write_text("# mine\n")

    code, out, err = run_cli(capsys, *_init(seattle, "--positive-above", "0", "--output", str(target)))

    assert (code, out) == (ExitCode.USAGE, "")
    assert (
        err == f"error: --output {target}: the file exists; pass --force to overwrite it, or name another\n"
    )
    assert target.read_text() == "# mine\n"
    code, out, err = run_cli(
        capsys, *_init(seattle, "--positive-value", "0", "--name", "dry-days", "-o", str(target), "--force")
    )
    assert code == ExitCode.OK, err
    contract = load_contract(target)
    assert (contract.name, contract.target.name, contract.target.positive_value) == (
        "dry-days",
        "precipitation_is_0",
        0,
    )
    assert out.startswith(f"Drafted contract 'dry-days' from {seattle} to {target}: ") and err == ""


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (
            ["--time", "day"],
            ExitCode.USAGE,
            "--time day: {file} has no such column (it has date, precipitation, temp_max, temp_min, wind, "
            "weather)",
        ),
        (
            [],
            ExitCode.USAGE,
            "--target precipitation holds values other than 0/1 (e.g. 0.0, 10.9, 0.8, 20.3): say which rows "
            "are positive with --positive-above X (a number) or --positive-value V (one value)",
        ),
        (
            ["--positive-above", "0", "--positive-value", "1"],
            ExitCode.USAGE,
            "--positive-above and --positive-value: give one label rule, not both",
        ),
        (
            ["--positive-above", "0", "--period", "hour"],
            ExitCode.USAGE,
            "--period hour: use one of day, week, month, quarter, year",
        ),
    ],
)
def test_a_mistake_is_one_line_and_its_exit_code(
    capsys: pytest.CaptureFixture[str], seattle: Path, options: list[str], code: int, message: str
) -> None:
    argv = _init(seattle, *options)
    if options[:1] == ["--time"]:
        argv[3:5] = options[:2]
    got, out, err = run_cli(capsys, *argv)
    assert (got, out, err) == (code, "", f"error: {message.format(file=seattle)}\n")


def test_a_missing_file_is_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    code, out, err = run_cli(capsys, "contract", "init", str(missing), "--time", "t", "--target", "y")
    assert (code, out, err) == (ExitCode.UNREADABLE_INPUT, "", f"error: {missing}: no such file\n")


def test_integer_years_draft_by_year_and_refuse_months(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "yearly.csv"
    years = [year for year in range(2000, 2014) for _ in range(30)]
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {"year": years, "x": rng.normal(size=len(years)), "churned": rng.random(len(years)) < 0.3}
    )
    frame.to_csv(path, index=False)
    argv = ["contract", "init", str(path), "--time", "year", "--target", "churned"]

    code, out, err = run_cli(capsys, *argv, "--period", "month")
    assert (code, out) == (ExitCode.USAGE, "")
    assert err == (
        "error: --period month: the times are integer years (e.g. 2000), which name no finer time than a "
        "year: use --period year\n"
    )
    code, out, err = run_cli(capsys, *argv, "-o", str(tmp_path / "yearly.yaml"))
    assert code == ExitCode.OK, err
    contract = load_contract(tmp_path / "yearly.yaml")
    assert (contract.time.format, contract.columns["year"].type, contract.time.period) == (
        "%Y",
        "int",
        "year",
    )
    assert contract.target.positive_above is None and contract.target.positive_value is None  # true/false
    assert "the draft passes 14 of 14 years of the file" in out
