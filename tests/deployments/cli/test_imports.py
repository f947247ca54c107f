"""What each verb's process imports: the heavy libraries it uses, and none that it does not.

Import time is most of what a short command costs (Prefect, LightGBM with scikit-learn, Great Expectations
and Evidently take seconds each), so the promise is checked on the real process (`python -X importtime`),
not on a module: a library imported by a call deep in a verb counts too. How long verbs take is measured
in `bench/cli.py`, not here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from deployments.errors import KNOWN_ERRORS, ExitCode
from tests.conftest import FLIGHTS_CONTRACT, REPO

HEAVY = {"prefect", "lightgbm", "great_expectations", "evidently", "sklearn", "pandas", "pyarrow"}
V01_STORE = REPO / "tests" / "data" / "store-v0.1"  # a registry written by release v0.1


def run_verb(*argv: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """Run `driftloop argv` in a fresh process: its exit code, the heavy libraries it imported, stderr."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "deployments.cli", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env if env is not None else _plain_env(),
    )
    lines = done.stderr.splitlines()
    tops = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    said = "\n".join(line for line in lines if not line.startswith("import time:"))
    return done.returncode, tops & HEAVY, said


def _plain_env(**extra: str) -> dict[str, str]:
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
    env.pop("PREFECT_API_URL", None)
    # `validate` in its own process: a warm validator (tests/deployments/cli/test_warm_validator.py) imports
    # Great Expectations for the next ones, and none is left running by this test.
    return {**env, "DRIFTLOOP_VALIDATOR_IDLE_TIMEOUT_SECONDS": "0", **extra}


@pytest.fixture
def v01_store(tmp_path: Path) -> Path:
    return Path(shutil.copytree(V01_STORE, tmp_path / "store"))


def test_help_imports_none_of_them() -> None:
    code, imported, _ = run_verb("--help")
    assert (code, imported) == (ExitCode.OK, set())


@pytest.mark.parametrize("extra", [(), ("--json",), ("--card", "99")], ids=["text", "json", "no-such-card"])
def test_models_reads_the_registry_json_without_them(v01_store: Path, extra: tuple[str, ...]) -> None:
    """Versions, log and cards are JSON and text: no LightGBM, scikit-learn, Prefect, Great Expectations or
    Evidently (pandas comes with the records' modules, 0.2 s); a failure is classified without them too."""
    code, imported, said = run_verb("models", "--store", str(v01_store), *extra)
    assert code == (ExitCode.MISSING_PREREQUISITE if extra == ("--card", "99") else ExitCode.OK), said
    assert imported <= {"pandas", "pyarrow"}


def test_validate_imports_great_expectations_and_pandas_only(
    flights_table: pd.DataFrame, tmp_path: Path
) -> None:
    small = tmp_path / "small.csv"
    flights_table.head(200).to_csv(small, index=False)

    code, imported, said = run_verb("validate", str(small), "--contract", str(FLIGHTS_CONTRACT))

    assert code == ExitCode.CONTRACT_VIOLATION, said  # 200 rows: below the contract's row count
    assert imported == {"great_expectations", "pandas", "pyarrow"}


def test_every_known_error_names_a_class_that_exists() -> None:
    """`deployments.errors` names the domain's errors as text (to import nothing): each must resolve."""
    import importlib

    for _, names, _ in KNOWN_ERRORS:
        for name in names:
            module, _, attribute = name.partition(":")
            assert issubclass(getattr(importlib.import_module(module), attribute), Exception), name


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_a_flow_verb_whose_work_is_done_imports_only_what_it_runs(file_source: Path, tmp_path: Path) -> None:
    """Rerun on the same store: ingest (a cache hit) imports no LightGBM; none validates again with Great
    Expectations; none loads Evidently, which only monitoring uses."""
    from prefect.settings import PREFECT_API_URL

    env = _plain_env(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),  # the session's test server
        DRIFTLOOP_TRAIN_MAX_ROUNDS="60",
        DRIFTLOOP_TRAIN_CV_FOLDS="3",
        DRIFTLOOP_DRIFT_SAMPLE_ROWS="2000",
    )
    on = ("--store", str(tmp_path / "store"), "--contract", str(file_source))
    train, score, ingest = (
        ("train", "--as-of", "2013-03", *on),
        ("score", "2013-05", *on),
        ("ingest", "2013-03", *on),
    )
    for first in (train, score):
        code, imported, said = run_verb(*first, env=env)
        assert code == ExitCode.OK, said
        assert "great_expectations" in imported  # the first run validated its batches

    reruns = {argv[0]: run_verb(*argv, env=env) for argv in (ingest, train, score)}

    assert {verb: code for verb, (code, _, _) in reruns.items()} == dict.fromkeys(reruns, ExitCode.OK)
    flow = {"prefect", "pandas", "pyarrow"}
    assert reruns["ingest"][1] == flow  # nothing scored or trained: no LightGBM
    for verb in ("train", "score"):  # judging and scoring need LightGBM (which imports scikit-learn), no more
        assert flow <= reruns[verb][1] <= flow | {"lightgbm", "sklearn"}, verb
