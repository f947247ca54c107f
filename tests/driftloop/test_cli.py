"""The command line: verbs a user expects, `validate` exit codes and messages, the registry listing."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from driftloop.cli import app
from driftloop.data import select_month
from typer.testing import CliRunner

import driftloop
from driftloop.contract import Contract

runner = CliRunner()


def test_help_lists_the_lifecycle_verbs() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("run", "validate", "ingest", "train", "score", "monitor", "models"):
        assert f" {verb} " in result.output, verb


def test_public_api_is_exactly_what_init_exports() -> None:
    public = {
        name
        for name in dir(driftloop)
        if not name.startswith("_")
        and name not in ("annotations", "importlib", "TYPE_CHECKING", "Any")
        and not isinstance(getattr(driftloop, name), types.ModuleType)
    }
    assert set(driftloop.__all__) == public == set(driftloop._EXPORTS)
    for name in driftloop.__all__:
        value = getattr(driftloop, name)
        assert getattr(value, "__name__", name) == name  # resolves to the object of that name
    with pytest.raises(AttributeError):
        _ = driftloop.not_a_public_name


def test_importing_the_cli_does_not_import_the_heavy_libraries() -> None:
    """`driftloop --help` stays fast: Prefect, LightGBM and GX load only in the verbs that use them."""
    heavy = ("prefect", "lightgbm", "great_expectations")
    code = f"import sys, driftloop.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="module")
def january(
    flights_table: pd.DataFrame, flights_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("batches") / "2013-01.parquet"
    select_month(flights_table, flights_contract, "2013-01").to_parquet(path, index=False)
    return path


def test_validate_passes_a_real_month(january: Path) -> None:
    result = runner.invoke(app, ["validate", str(january), "--contract", "data_contracts/flights.yaml"])
    assert result.exit_code == 0, result.output
    assert "passes" in result.output


def test_validate_fails_naming_every_broken_rule(january: Path, tmp_path: Path) -> None:
    batch = pd.read_parquet(january).drop(columns=["distance"])
    batch["dep_delay"] = batch["dep_delay"].where(batch.index % 2 == 0)  # 50% nulls, limit 10%
    batch.loc[:9, "origin"] = "XXX"
    bad = tmp_path / "bad.csv"
    batch.to_csv(bad, index=False)
    report = tmp_path / "report.json"

    result = runner.invoke(
        app, ["validate", str(bad), "--contract", "data_contracts/flights.yaml", "--json", str(report)]
    )

    assert result.exit_code == 1
    assert "distance: exists" in result.output
    assert "dep_delay: max_null_fraction" in result.output
    assert "origin: allowed" in result.output and "XXX" in result.output
    failures = {(f["column"], f["rule"]) for f in json.loads(report.read_text())["failures"]}
    assert {("distance", "exists"), ("dep_delay", "max_null_fraction"), ("origin", "allowed")} <= failures


def test_validate_cuts_one_month_out_of_a_longer_export(
    flights_table: pd.DataFrame, flights_contract: Contract, tmp_path: Path
) -> None:
    two_months = tmp_path / "q1.parquet"
    months = [select_month(flights_table, flights_contract, month) for month in ("2013-01", "2013-02")]
    pd.concat(months).to_parquet(two_months, index=False)
    whole = runner.invoke(app, ["validate", str(two_months)])
    assert whole.exit_code == 1 and "row_count" in whole.output  # 51,955 rows is no monthly batch
    february = runner.invoke(app, ["validate", str(two_months), "--month", "2013-02"])
    assert february.exit_code == 0, february.output
    assert "24,951 rows" in february.output


def test_validate_reports_a_missing_file_as_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_models_on_an_empty_store_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "--store", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "0 version(s), champion none" in result.output


def test_run_archives_an_earlier_local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftloop.cli import archive_local_store

    monkeypatch.chdir(tmp_path)
    store = tmp_path / ".driftloop" / "store"
    assert archive_local_store(str(store)) is None  # nothing there yet
    (store / "registry" / "flights-delay" / "versions").mkdir(parents=True)
    (store / "registry" / "flights-delay" / "versions" / "0001.json").write_text("{}")

    moved = archive_local_store(str(store))

    assert moved is not None and moved.parent == (tmp_path / ".driftloop" / "archive").resolve()
    assert (moved / "registry" / "flights-delay" / "versions" / "0001.json").read_text() == "{}"
    assert not store.exists()
    assert archive_local_store("s3://bucket/prefix") is None  # remote stores are never moved
