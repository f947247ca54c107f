"""Every user mistake in the table of docs/data-contracts.md: one line naming what is wrong, its exit code,
never a traceback. Each case id here is the one the table names."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from deployments.cli import main
from deployments.errors import ExitCode
from driftloop.core.contract import Contract
from driftloop.data.batches import cut_period
from tests.conftest import FLIGHTS_CONTRACT


@dataclass(frozen=True)
class Case:
    """A bad input: how to make it, the verb to run on it, what the user must see."""

    make: Callable[[Path, pd.DataFrame], list[str]]  # writes the input, returns the CLI arguments
    code: int
    says: str
    env: tuple[tuple[str, str], ...] = ()


def _csv(frame: pd.DataFrame, folder: Path, name: str = "batch.csv") -> str:
    path = folder / name
    frame.to_csv(path, index=False)
    return str(path)


def _validate(path: str, *extra: str) -> list[str]:
    return ["validate", path, "--contract", str(FLIGHTS_CONTRACT), *extra]


def _contract(folder: Path, change: Callable[[dict], None]) -> str:
    raw = yaml.safe_load(FLIGHTS_CONTRACT.read_text())
    change(raw)
    path = folder / "contract.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _semicolons(frame: pd.DataFrame, folder: Path) -> str:
    path = folder / "batch.csv"
    frame.to_csv(path, index=False, sep=";")
    return str(path)


def _write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return str(folder / name)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLOSED = _closed_port()


def _times(kind: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def convert(frame: pd.DataFrame) -> pd.DataFrame:
        aware = pd.to_datetime(frame["time_hour"], utc=True)
        local = aware.dt.tz_convert("America/New_York").dt.tz_localize(None)  # naive = the contract's zone
        return frame.assign(time_hour=aware if kind == "aware" else local)

    return convert


CASES: dict[str, Case] = {
    # ---- file-level ------------------------------------------------------------------------------
    "missing-file": Case(lambda d, j: _validate(str(d / "nope.csv")), 3, "nope.csv: no such file"),
    "empty-file": Case(
        lambda d, j: _validate(_write(d, "empty.csv", b"")), 3, "empty.csv: the file is empty"
    ),
    "truncated-parquet": Case(
        lambda d, j: _validate(_write(d, "cut.parquet", _parquet_bytes(j)[:5000])),
        3,
        "cut.parquet: cannot be read as parquet",
    ),
    "binary-csv": Case(
        lambda d, j: _validate(_write(d, "bin.csv", bytes(range(256)) * 10)), 3, "bin.csv: not a text CSV"
    ),
    "parquet-named-csv": Case(
        lambda d, j: _validate(_write(d, "p.csv", _parquet_bytes(j.head(10)))),
        3,
        "p.csv: this is a Parquet file named .csv",
    ),
    "csv-named-parquet": Case(
        lambda d, j: _validate(_write(d, "c.parquet", b"year,month\n2013,1\n")),
        3,
        "c.parquet: not a Parquet file",
    ),
    "unknown-extension": Case(
        lambda d, j: _validate(_write(d, "batch.txt", b"year\n2013\n")),
        3,
        "batch.txt: only .csv, .csv.gz and .parquet files are supported",
    ),
    "header-only": Case(
        lambda d, j: _validate(_csv(j.head(0), d)),
        1,
        "row_count expected between 20,000 and 40,000 rows, observed 0 rows",
    ),
    # ---- schema ----------------------------------------------------------------------------------
    "missing-column": Case(
        lambda d, j: _validate(_csv(j.drop(columns=["distance"]), d)),
        1,
        "distance: exists expected column present, observed column missing",
    ),
    "wrong-type": Case(
        lambda d, j: _validate(_csv(j.assign(flight=j["flight"].astype(str) + "x"), d)),
        1,
        "flight: type expected int dtype",
    ),
    "extra-column": Case(
        lambda d, j: _validate(_csv(j.assign(gate="B12"), d)),
        1,
        "extra_columns expected only the declared columns",
    ),
    "extra-column-kept": Case(
        lambda d, j: [
            "validate",
            _csv(j.assign(gate="B12"), d),
            "--contract",
            _contract(d, lambda raw: raw.update(extra_columns="keep")),
        ],
        0,
        "Batch passes",
    ),
    # ---- values ----------------------------------------------------------------------------------
    "out-of-range": Case(
        lambda d, j: _validate(_csv(j.assign(distance=j["distance"].where(j.index % 100 > 0, 99_999)), d)),
        1,
        "distance: range expected between 1 and 6000, observed 271 of 27,004 non-null values outside, e.g. 99999",
    ),
    "not-allowed": Case(
        lambda d, j: _validate(_csv(j.assign(origin=j["origin"].where(j.index > 4, "BOS")), d)),
        1,
        "origin: allowed expected in [EWR, JFK, LGA], observed 5 of 27,004 non-null values not allowed, e.g. 'BOS'",
    ),
    "pattern": Case(
        lambda d, j: _validate(_csv(j.assign(carrier=j["carrier"].where(j.index > 2, "united")), d)),
        1,
        "carrier: pattern expected matches ^[A-Z0-9]{2}$, observed 3 of 27,004 non-null values do not match",
    ),
    "too-many-nulls": Case(
        lambda d, j: _validate(_csv(j.assign(dep_delay=j["dep_delay"].where(j.index % 2 == 0)), d)),
        1,
        "dep_delay: max_null_fraction expected <= 10% nulls",
    ),
    # ---- time ------------------------------------------------------------------------------------
    "unparseable-time": Case(
        lambda d, j: _validate(_csv(j.assign(time_hour=j["time_hour"].where(j.index > 9, "yesterday")), d)),
        1,
        "time_hour: type expected datetime64 dtype or ISO-8601 timestamps, observed 10 of 27,004",
    ),
    "naive-datetimes": Case(
        lambda d, j: _validate(_write(d, "naive.parquet", _parquet_bytes(_times("naive")(j)))),
        0,
        "Batch passes",
    ),
    "aware-datetimes": Case(
        lambda d, j: _validate(_write(d, "aware.parquet", _parquet_bytes(_times("aware")(j)))),
        0,
        "Batch passes",
    ),
    "future-rows": Case(
        lambda d, j: _validate(
            _csv(j.assign(time_hour=j["time_hour"].str.replace("2013-", "2031-"), year=2031), d)
        ),
        1,
        "time_hour: not_in_future expected times up to now",
    ),
    "no-row-in-period": Case(
        lambda d, j: _validate(_csv(j, d), "--period", "2013-02"),
        4,
        "has no row in month 2013-02: it holds 2013-01..2013-01",
    ),
    "consistency": Case(
        lambda d, j: _validate(_csv(j.assign(year=j["year"].where(j.index > 6, 2012)), d)),
        1,
        "year: consistency expected equals the year of time_hour (America/New_York), observed 7 of 27,004 rows",
    ),
    # ---- volume ----------------------------------------------------------------------------------
    "too-few-rows": Case(
        lambda d, j: _validate(_csv(j.head(500), d)),
        1,
        "row_count expected between 20,000 and 40,000 rows, observed 500 rows",
    ),
    "too-many-rows": Case(
        lambda d, j: _validate(
            _csv(pd.concat([j, j.assign(time_hour=j["time_hour"])], ignore_index=True), d)
        ),
        1,
        "row_count expected between 20,000 and 40,000 rows, observed 54,008 rows",
    ),
    # ---- duplicates ------------------------------------------------------------------------------
    "duplicate-keys": Case(
        lambda d, j: _validate(_csv(pd.concat([j, j.head(7)], ignore_index=True), d)),
        1,
        "unique_keys expected one row per (carrier, flight, origin, time_hour), observed 14 of 27,011",
    ),
    # ---- contract and settings -------------------------------------------------------------------
    "contract-missing": Case(
        lambda d, j: ["validate", _csv(j, d), "--contract", str(d / "nope.yaml")],
        2,
        "nope.yaml: cannot read the contract (No such file or directory)",
    ),
    "contract-not-yaml": Case(
        lambda d, j: ["validate", _csv(j, d), "--contract", _write(d, "bad.yaml", b"name: [unclosed")],
        2,
        "bad.yaml: not valid YAML",
    ),
    "contract-unknown-key": Case(
        lambda d, j: ["validate", _csv(j, d), "--contract", _contract(d, lambda raw: raw.update(colums={}))],
        2,
        "colums: Extra inputs are not permitted",
    ),
    "contract-bad-name": Case(
        lambda d, j: [
            "validate",
            _csv(j, d),
            "--contract",
            _contract(d, lambda raw: raw.update(name="my_flights")),
        ],
        2,
        "'my_flights' cannot name store folders, Prefect artifacts and events",
    ),
    "time-not-datetime": Case(
        lambda d, j: [
            "validate",
            _csv(j, d),
            "--contract",
            _contract(d, lambda raw: raw["columns"].update(time_hour={"type": "int"})),
        ],
        2,
        "time column 'time_hour' is declared as int: a numeric time needs time.format %Y (an integer year)",
    ),
    "join-without-table": Case(
        lambda d, j: [
            "validate",
            _csv(j, d),
            "--contract",
            _contract(d, lambda raw: raw.update(source={"kind": "file", "path": str(d / "batch.csv")})),
        ],
        2,
        "join with 'weather': source.tables names no file for it; add `weather: <path>` under source.tables",
    ),
    "time-as-feature": Case(
        lambda d, j: [
            "validate",
            _csv(j, d),
            "--contract",
            _contract(d, lambda raw: raw["features"].append({"name": "time_hour", "kind": "numeric"})),
        ],
        2,
        "feature 'time_hour' is the time column: a model cannot read a time as a number; declare calendar "
        "features with `derive:` (day_of_week, hour, day_of_month, month, quarter, year)",
    ),
    "time-format-too-coarse": Case(
        lambda d, j: [
            "validate",
            _csv(j, d),
            "--contract",
            _contract(d, lambda raw: raw["time"].update(format="%Y-%m", period="day")),
        ],
        2,
        "time.format '%Y-%m' names no finer time than a month: set time.period to month or quarter or year",
    ),
    "time-column-missing": Case(
        lambda d, j: _validate(_csv(j.drop(columns="time_hour"), d), "--period", "2013-01"),
        3,
        "no column 'time_hour' (the contract's time column) among year, month, day, dep_time",
    ),
    "wrong-delimiter": Case(
        lambda d, j: _validate(_semicolons(j, d), "--period", "2013-01"),
        3,
        "the file has one column: are its values separated by something other than commas?",
    ),
    "period-wrong-form": Case(
        lambda d, j: ["ingest", "2013-4", "--store", str(d / "s"), "--contract", str(FLIGHTS_CONTRACT)],
        2,
        "'2013-4' is not a month label: a month is written like 2013-04",
    ),
    "period-other-kind": Case(
        lambda d, j: ["score", "2013-W14", "--store", str(d / "s"), "--contract", str(FLIGHTS_CONTRACT)],
        2,
        "'2013-W14' is not a month label",
    ),
    "bad-setting": Case(
        lambda d, j: ["train", "--as-of", "2013-03", "--store", str(d / "s")],
        2,
        "cv_folds: Input should be greater than or equal to 2",
        env=(("DRIFTLOOP_TRAIN_CV_FOLDS", "1"),),
    ),
    # ---- prerequisites ---------------------------------------------------------------------------
    "no-such-version": Case(
        lambda d, j: ["models", "--card", "99", "--store", str(d / "s")],
        4,
        "flights-delay has no version 99 in",
    ),
    # ---- infrastructure --------------------------------------------------------------------------
    "store-unreachable": Case(
        lambda d, j: ["models", "--store", "s3://driftloop/x"],
        5,
        f"cannot reach http://127.0.0.1:{CLOSED} (EndpointConnectionError): is the S3 server up?",
        env=(
            ("DRIFTLOOP_S3_ENDPOINT_URL", f"http://127.0.0.1:{CLOSED}"),
            ("DRIFTLOOP_S3_ACCESS_KEY_ID", "k"),
            ("DRIFTLOOP_S3_SECRET_ACCESS_KEY", "s"),
            ("DRIFTLOOP_S3_MAX_ATTEMPTS", "1"),
        ),
    ),
    "disk-full": Case(  # a real ENOSPC: /dev/full refuses every write
        lambda d, j: _validate(_csv(j, d), "--json", "/dev/full"),
        5,
        "cannot use: No space left on device; free some space, then run the same command again",
    ),
    # ---- drift-looking but valid -----------------------------------------------------------------
    "summer-month": Case(lambda d, j: _validate(_csv(j, d)), 0, "Batch passes"),  # see the fixture: July
}


@pytest.fixture(scope="module")
def january(flights_table: pd.DataFrame, flights_contract: Contract) -> pd.DataFrame:
    return cut_period(flights_table, flights_contract, "2013-01")


@pytest.fixture(scope="module")
def july(flights_table: pd.DataFrame, flights_contract: Contract) -> pd.DataFrame:
    return cut_period(flights_table, flights_contract, "2013-07")


@pytest.mark.parametrize("case_id", list(CASES))
def test_a_mistake_gets_one_line_and_its_exit_code(
    case_id: str,
    january: pd.DataFrame,
    july: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES[case_id]
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    argv = case.make(tmp_path, july if case_id == "summer-month" else january)

    code = main(argv)

    out, err = capsys.readouterr()
    assert code == case.code, out + err
    assert case.says in out + err
    assert "Traceback" not in out + err
    if code not in (ExitCode.OK, ExitCode.CONTRACT_VIOLATION):
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1  # one line, on stderr


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_flow_verbs_say_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    contract = str(FLIGHTS_CONTRACT)
    cases = [
        (["score", "2013-04", "--store", store, "--contract", contract], "has no champion in"),
        (["monitor", "2013-04", "--store", store, "--contract", contract], "run `driftloop train` first"),
        (["ingest", "2014-05", "--store", store, "--contract", contract], "has no row in month 2014-05"),
    ]
    for argv, says in cases:
        code = main(argv)
        _, err = capsys.readouterr()
        assert (code, err.count("\n")) == (ExitCode.MISSING_PREREQUISITE, 1), err
        assert says in err and "Traceback" not in err


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_a_source_without_its_time_column_is_quarantined_with_one_line(
    january: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No period can be cut from it: exit 3 naming the column, and the file's bytes kept with the reason."""
    source = _semicolons(january, tmp_path)
    contract = _contract(tmp_path, lambda raw: raw.update(source={"kind": "file", "path": source}, joins=[]))
    contract_text = Path(contract).read_text().replace("- {name: temp", "# - {name: temp")
    raw = yaml.safe_load(contract_text)
    raw["features"] = [f for f in raw["features"] if f["name"] in {"carrier", "origin", "dest", "distance"}]
    Path(contract).write_text(yaml.safe_dump(raw, sort_keys=False))
    store = tmp_path / "store"

    code = main(["ingest", "2013-01", "--store", str(store), "--contract", contract])

    _, err = capsys.readouterr()
    assert (code, err.count("\n")) == (ExitCode.UNREADABLE_INPUT, 1), err
    assert "no column 'time_hour' (the contract's time column)" in err
    assert "separated by something other than commas?" in err and "quarantined at" in err
    [kept] = (store / "quarantine" / "flights" / "unreadable").glob("*/batch.csv")
    assert kept.read_bytes() == Path(source).read_bytes()


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_a_label_in_disguise_blocks_training_until_accepted(
    file_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A feature column that is the label renamed: the guard names it; accepting it lets training run."""
    raw = yaml.safe_load(file_source.read_text())
    flights = pd.read_parquet(raw["source"]["path"])
    late = pd.to_numeric(flights["arr_delay"]) > 15
    flights["ops_code"] = np.where(late, "R7", "G2")  # an "operations code" that is the outcome
    flights.loc[flights["arr_delay"].isna(), "ops_code"] = None
    flights.to_parquet(tmp_path / "leaky.parquet", index=False)
    raw["source"]["path"] = str(tmp_path / "leaky.parquet")
    raw["columns"]["ops_code"] = {"type": "string", "max_null_fraction": 0.1}
    raw["features"].append({"name": "ops_code", "kind": "categorical"})
    contract = tmp_path / "leaky.yaml"
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    argv = ["train", "--as-of", "2013-03", "--store", str(tmp_path / "store"), "--contract", str(contract)]

    code = main(argv)
    _, err = capsys.readouterr()
    assert code == ExitCode.CONTRACT_VIOLATION, err
    assert "training blocked: ops_code (AUC 1.000) alone predict(s) `arr_delayed`" in err

    raw["leakage"] = {"accepted": ["ops_code"]}
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(argv) == ExitCode.OK


def test_debug_shows_the_traceback_and_keeps_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--debug` used to turn every exit code into 1 (the exception left the process)."""
    code = main(["--debug", *_validate(str(tmp_path / "nope.csv"))])

    _, err = capsys.readouterr()
    assert code == ExitCode.UNREADABLE_INPUT
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == f"error: {tmp_path / 'nope.csv'}: no such file"
