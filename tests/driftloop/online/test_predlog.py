"""The prediction log: batched off the request path, bounded, read back as a frame, and never in the way.

The store-down tests break real stores: a local folder whose log directory cannot be created, and a real
SeaweedFS server stopped while the service answers requests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.settings import S3Settings, ServingSettings
from driftloop.core.storage import LocalStorage, Storage
from driftloop.core.storage.s3 import S3Storage
from driftloop.online import (
    PredictionLog,
    PredictionService,
    RequestRefused,
    read_logged_period,
    read_prediction_log,
    read_refusals,
)
from driftloop.online.predlog import ARROW_REQUEST, LoggedRequest, RefusedRequest
from driftloop.registry import Registry
from tests.driftloop.online.conftest import body_of, records_of, wait_until
from tests.driftloop.online.test_arrow import arrow_of
from tests.servers import seaweedfs_server

MODEL = "flights-delay"
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def entry(
    contract: Contract, rows: pd.DataFrame, at: datetime = NOON, version: int = 1, request: str | None = None
) -> LoggedRequest:
    records = records_of(rows, contract)
    return LoggedRequest(
        request_id=request or uuid.uuid4().hex,
        served_at=at,
        model_version=version,
        request=body_of(records).decode(),
        probabilities=np.linspace(0.1, 0.9, len(records)),
    )


def new_log(storage: Storage, **limits: float) -> PredictionLog:
    options = {"log_batch_rows": 1000, "log_flush_seconds": 0.05, "log_max_pending_rows": 10_000} | limits
    return PredictionLog(storage, "flights", MODEL, ServingSettings(**options))  # type: ignore[arg-type]


def test_a_flush_writes_one_file_that_reads_back_with_inputs_and_predictions(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    log.append(entry(slice_contract, flights_table.iloc[:3], request="first"))
    log.append(entry(slice_contract, flights_table.iloc[3:5], at=NOON + timedelta(seconds=1), version=2))

    assert log.flush() is True
    frame = read_prediction_log(
        storage, slice_contract, MODEL, NOON - timedelta(hours=1), NOON + timedelta(hours=1)
    )

    assert log.stats() == {
        "logged_rows": 5,
        "pending_rows": 0,
        "dropped_rows": 0,
        "logged_refusals": 0,
        "dropped_refusals": 0,
        "failed_writes": 0,
        "files": 1,
    }
    assert len(storage.list(layout.prediction_log_day("flights", MODEL, "2026-12-01"))) == 1
    assert frame["request_id"].tolist()[:3] == ["first"] * 3 and frame["record"].tolist() == [0, 1, 2, 0, 1]
    assert frame["model_version"].tolist() == [1, 1, 1, 2, 2]
    np.testing.assert_allclose(frame["prediction"].to_numpy()[:3], [0.1, 0.5, 0.9])
    assert frame["carrier"].tolist() == flights_table["carrier"].iloc[:5].tolist()
    assert frame["dep_time"].dtype == np.float64 and frame["served_at"].dt.tz is not None
    assert "arr_delay" not in frame.columns  # the target was never an input


def test_rows_are_filed_by_the_utc_day_they_were_served(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    midnight = datetime(2026, 12, 2, tzinfo=UTC)
    log.append(entry(slice_contract, flights_table.iloc[:2], at=midnight - timedelta(milliseconds=5)))
    log.append(entry(slice_contract, flights_table.iloc[2:3], at=midnight + timedelta(milliseconds=5)))
    log.flush()

    second_day = read_prediction_log(storage, slice_contract, MODEL, midnight, midnight + timedelta(days=1))
    both = read_prediction_log(
        storage, slice_contract, MODEL, midnight - timedelta(days=1), midnight + timedelta(days=1)
    )

    assert (len(second_day), len(both)) == (1, 3)
    assert storage.list(layout.prediction_log_day("flights", MODEL, "2026-12-01"))
    assert storage.list(layout.prediction_log_day("flights", MODEL, "2026-12-02"))


def test_a_period_of_the_log_is_cut_in_the_contracts_timezone(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    # 02:00 UTC on 1 Dec is still 30 November in New York: it belongs to the November period
    log.append(entry(slice_contract, flights_table.iloc[:2], at=datetime(2026, 12, 1, 2, tzinfo=UTC)))
    log.append(entry(slice_contract, flights_table.iloc[2:3], at=datetime(2026, 12, 1, 6, tzinfo=UTC)))
    log.flush()

    assert len(read_logged_period(storage, slice_contract, MODEL, "2026-11")) == 2
    assert len(read_logged_period(storage, slice_contract, MODEL, "2026-12")) == 1
    assert read_logged_period(storage, slice_contract, MODEL, "2026-10").empty


def test_a_full_buffer_counts_what_it_drops_instead_of_growing(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    log = new_log(LocalStorage(tmp_path), log_max_pending_rows=5)

    accepted = [log.append(entry(slice_contract, flights_table.iloc[:3])) for _ in range(3)]

    assert accepted == [True, False, False]
    assert (log.pending_rows, log.dropped_rows) == (3, 6)


def test_the_writer_thread_logs_without_being_asked_and_flushes_on_close(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage, log_flush_seconds=0.05)
    log.start()
    log.append(entry(slice_contract, flights_table.iloc[:4]))
    wait_until(lambda: log.logged_rows == 4, "first 4 rows written by the writer thread", seconds=10)
    log.append(entry(slice_contract, flights_table.iloc[4:6]))
    log.close()

    assert log.logged_rows == 6 and log.pending_rows == 0 and log.files == 2


def test_a_store_that_refuses_writes_keeps_the_rows_until_it_takes_them(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    """A real fault: a file stands where the log's folder must be created."""
    storage = LocalStorage(tmp_path)
    blocker = tmp_path / "prediction-log"
    blocker.write_text("not a folder")
    log = new_log(storage)
    log.append(entry(slice_contract, flights_table.iloc[:3]))

    assert log.flush() is False
    assert (log.failed_writes, log.pending_rows, log.logged_rows, log.files) == (1, 3, 0, 0)

    blocker.unlink()
    log.append(entry(slice_contract, flights_table.iloc[3:4]))
    assert log.flush() is True
    assert (log.pending_rows, log.logged_rows, log.files) == (0, 4, 1)
    assert (
        len(read_prediction_log(storage, slice_contract, MODEL, NOON - timedelta(1), NOON + timedelta(1)))
        == 4
    )


def _upload(source: Path, target: Storage) -> None:
    local = LocalStorage(source)
    for key in local.list("registry"):
        target.write_bytes(key, local.read_bytes(key))


def test_with_the_s3_store_stopped_the_service_keeps_serving_and_counts_what_it_could_not_log(
    tmp_path: Path, store: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    records = records_of(flights_table.iloc[:2], slice_contract)
    settings = ServingSettings(log_flush_seconds=0.05, log_max_pending_rows=10, poll_seconds=60)
    with seaweedfs_server(tmp_path / "seaweedfs") as endpoint:
        s3 = S3Settings(
            endpoint_url=endpoint.endpoint_url,
            access_key_id=endpoint.access_key,
            secret_access_key=endpoint.secret_key,
            max_attempts=1,
        )
        storage = S3Storage.from_url("s3://driftloop-serving/store", s3)
        _upload(store, storage)
        Registry(storage, slice_contract.model_name).promote(1, reason="test")
        service = PredictionService(settings, storage, slice_contract, slice_contract.model_name)
        service.start()
        served = service.predict(body_of(records))
        wait_until(lambda: service.log.logged_rows == 2, "2 rows logged while the store is up", seconds=20)
    # the server is gone: every call to it is refused from here on
    answers = [service.predict(body_of(records)) for _ in range(8)]
    wait_until(lambda: service.log.failed_writes > 0, "failed write once the store is gone", seconds=20)
    check = service.reload()
    health = service.health()
    service.close()

    assert [answer["predictions"] for answer in answers] == [served["predictions"]] * 8
    assert {answer["model_version"] for answer in answers} == {"v1"}
    stats = service.log.stats()
    assert stats["failed_writes"] >= 1 and stats["logged_rows"] == 2
    assert stats["pending_rows"] + stats["dropped_rows"] == 16 and stats["dropped_rows"] >= 6
    assert (check.status, check.serving) == ("unavailable", 1)
    assert (health["status"], health["model_version"]) == ("ok", "v1")
    assert health["problem"].startswith("cannot read the champion alias")


def test_reading_a_log_that_has_nothing_is_an_empty_frame(tmp_path: Path, slice_contract: Contract) -> None:
    frame = read_prediction_log(LocalStorage(tmp_path), slice_contract, MODEL, NOON, NOON + timedelta(days=3))
    assert frame.empty and list(frame.columns)[:6] == [
        "request_id", "record", "served_at", "model", "model_version", "prediction"
    ]  # fmt: skip
    assert "carrier" in frame.columns and "arr_delay" not in frame.columns


def refusal(at: datetime, request: str, version: int | None = 1) -> RefusedRequest:
    return RefusedRequest(
        request_id=request,
        served_at=at,
        model_version=version,
        refused=(("origin", "allowed", 2), ("distance", "range", 1)),
        record_time="2013-06-01T10:00:00Z",
    )


def test_refusals_are_logged_one_row_per_field_and_rule_and_read_back(
    tmp_path: Path, slice_contract: Contract
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    log.append(refusal(NOON, "bad"))
    log.append(
        RefusedRequest(
            request_id="broken",
            served_at=NOON + timedelta(seconds=1),
            model_version=None,
            refused=((None, "json", 0),),
        )
    )

    assert log.flush() is True
    frame = read_refusals(
        storage, slice_contract, MODEL, NOON - timedelta(hours=1), NOON + timedelta(hours=1)
    )
    empty = read_refusals(storage, slice_contract, MODEL, NOON + timedelta(days=2), NOON + timedelta(days=3))

    assert list(frame.columns) == list(empty.columns) == [
        "served_at", "request_id", "model_version", "field", "rule", "records", "record_time"
    ]  # fmt: skip
    assert frame.drop(columns="served_at").values.tolist() == [
        ["bad", 1, "origin", "allowed", 2, "2013-06-01T10:00:00Z"],
        ["bad", 1, "distance", "range", 1, "2013-06-01T10:00:00Z"],
        ["broken", pd.NA, None, "json", 0, None],
    ]
    assert frame["served_at"].tolist() == [pd.Timestamp(NOON)] * 2 + [
        pd.Timestamp(NOON + timedelta(seconds=1))
    ]
    assert dict(frame.dtypes.astype(str)) == dict(empty.dtypes.astype(str))
    assert (log.logged_refusals, log.logged_rows, log.files) == (3, 0, 1)
    assert storage.list(layout.refusal_log("flights", MODEL, "2026-12-01"))
    assert not storage.list(layout.prediction_log_day("flights", MODEL, "2026-12-01"))  # a log of its own


def test_an_arrow_body_reads_back_as_the_same_records_in_json_would(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    rows = flights_table.iloc[:4]
    as_json = entry(slice_contract, rows, request="json")
    as_arrow = LoggedRequest(
        request_id="arrow",
        served_at=NOON,
        model_version=1,
        request=arrow_of(records_of(rows, slice_contract), slice_contract),
        probabilities=as_json.probabilities,
    )
    log.append(as_json)
    log.append(as_arrow)
    log.flush()

    frame = read_prediction_log(storage, slice_contract, MODEL, NOON, NOON + timedelta(seconds=1))

    json_rows = frame[frame["request_id"] == "json"].drop(columns="request_id").reset_index(drop=True)
    arrow_rows = frame[frame["request_id"] == "arrow"].drop(columns="request_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(json_rows, arrow_rows)
    assert arrow_rows["tailnum"].tolist() == rows["tailnum"].tolist()


def test_a_file_from_before_arrow_bodies_still_reads(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    storage = LocalStorage(tmp_path)
    log = new_log(storage)
    old = log._table([entry(slice_contract, flights_table.iloc[:2])]).drop_columns([ARROW_REQUEST])
    buffer = pa.BufferOutputStream()
    pq.write_table(old, buffer)
    storage.write_bytes(
        layout.prediction_log("flights", MODEL, "2026-12-01", "old"), buffer.getvalue().to_pybytes()
    )

    frame = read_prediction_log(storage, slice_contract, MODEL, NOON, NOON + timedelta(seconds=1))

    assert frame["carrier"].tolist() == flights_table["carrier"].iloc[:2].tolist()


def test_when_one_log_cannot_be_written_only_its_rows_wait(
    tmp_path: Path, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    """A real fault on the refusal log only: the predictions written are not written twice on the retry."""
    storage = LocalStorage(tmp_path)
    blocker = tmp_path / "refusal-log"
    blocker.write_text("not a folder")
    log = new_log(storage)
    log.append(entry(slice_contract, flights_table.iloc[:3], request="scored"))
    log.append(refusal(NOON, "refused"))

    assert log.flush() is False
    assert (log.logged_rows, log.logged_refusals, log.pending_rows, log.failed_writes) == (3, 0, 2, 1)
    blocker.unlink()
    assert log.flush() is True

    span = (NOON - timedelta(hours=1), NOON + timedelta(hours=1))
    assert len(read_prediction_log(storage, slice_contract, MODEL, *span)) == 3
    assert read_refusals(storage, slice_contract, MODEL, *span)["records"].tolist() == [2, 1]
    assert (log.logged_rows, log.logged_refusals, log.pending_rows) == (3, 2, 0)


def test_a_refused_request_is_counted_and_read_back_with_its_field_rule_and_records(
    store: Path, registry: Registry, slice_contract: Contract, flights_table: pd.DataFrame
) -> None:
    settings = ServingSettings(log_flush_seconds=0.05, poll_seconds=60)
    service = PredictionService(settings, LocalStorage(store), slice_contract, slice_contract.model_name)
    registry.promote(1, reason="test")
    start = pd.Timestamp.now(tz="UTC")
    service.start()
    records = records_of(flights_table.iloc[:3], slice_contract)
    bad = [records[0], {**records[1], "origin": "BOS"}, {**records[2], "origin": "BOS", "minute": 60}]
    with pytest.raises(RequestRefused):
        service.predict(body_of(bad), request="three-bad")
    wait_until(lambda: service.log.logged_refusals == 2, "2 refusal rows logged", seconds=10)
    service.close()

    frame = read_refusals(LocalStorage(store), slice_contract, MODEL, start, pd.Timestamp.now(tz="UTC"))
    assert frame[["request_id", "model_version", "field", "rule", "records"]].values.tolist() == [
        ["three-bad", 1, "origin", "allowed", 2],
        ["three-bad", 1, "minute", "range", 1],
    ]
    assert service.stats()["refused"]["invalid"] == 1
