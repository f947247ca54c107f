"""`driftloop serve` for real: uvicorn on a free loopback port, HTTP requests, the registry changing under it.

Each server is the CLI verb in its own process (`tests.servers.prediction_service`) on a private copy of
a store with two trained versions. The hot-swap test flips the champion while eight clients keep
sending requests, with two worker processes, and counts every answer. Arrow bodies and answers are
checked against the JSON ones and batch scoring; refused requests against the refusal log. With
`DRIFTLOOP_SERVE_SHADOW=true`, v2 (registered after the champion v1) scores every request too: its
probabilities are in the log, bit for bit those of batch scoring, and never in an answer.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftloop.core.contract import Contract
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import DataVersion, cut_period
from driftloop.data.enrichment import References
from driftloop.data.sources import SourceTables
from driftloop.lifecycle.scoring import enrich_batch, score_batch
from driftloop.online import ServedModel, read_prediction_log, read_refusals
from driftloop.registry import Registry
from tests.conftest import TrainedStore
from tests.driftloop.online.conftest import body_of, records_of, tamper, wait_until
from tests.driftloop.online.test_arrow import arrow_of, arrow_schema, stream
from tests.servers import ServiceEndpoint, prediction_service

MODEL = "flights-delay"
TOKEN = "test-reload-token"
ARROW = "application/vnd.apache.arrow.stream"
FAST = {
    "DRIFTLOOP_SERVE_MAX_ARROW_ROWS": "2000",
    "DRIFTLOOP_SERVE_POLL_SECONDS": "0.2",
    "DRIFTLOOP_SERVE_LOG_FLUSH_SECONDS": "0.2",
    "DRIFTLOOP_SERVE_RELOAD_TOKEN": TOKEN,
    "DRIFTLOOP_SERVE_MAX_RECORDS": "2000",
    "DRIFTLOOP_SERVE_MAX_BODY_BYTES": "1000000",
    "DRIFTLOOP_SERVE_BODY_TIMEOUT_SECONDS": "1",
}


def ready(url: str) -> httpx.Response | None:
    """GET /health, when it answers 200."""
    answer = httpx.get(f"{url}/health")
    return answer if answer.status_code == 200 else None


def copy_store(trained_store: TrainedStore, folder: Path, champion: int | None, model: str) -> Registry:
    store = Path(shutil.copytree(trained_store.path, folder))
    registry = Registry(LocalStorage(store), model)
    if champion is not None:
        registry.promote(champion, reason="test")
    return registry


@pytest.fixture(scope="module")
def june(flights_table: pd.DataFrame, slice_contract: Contract) -> pd.DataFrame:
    return cut_period(flights_table, slice_contract, "2013-06").iloc[:1500].reset_index(drop=True)


@pytest.fixture(scope="module")
def served(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceEndpoint, Registry]]:
    """One worker serving v1 (the champion before it started)."""
    folder = tmp_path_factory.mktemp("served")
    registry = copy_store(trained_store, folder / "store", 1, slice_contract.model_name)
    with prediction_service(folder / "store", trained_store.contract, folder / "serve.log", FAST) as endpoint:
        yield endpoint, registry


def test_health_is_503_until_a_verified_model_serves(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path, june: pd.DataFrame
) -> None:
    registry = copy_store(trained_store, tmp_path / "store", None, slice_contract.model_name)
    with prediction_service(
        tmp_path / "store", trained_store.contract, tmp_path / "serve.log", FAST
    ) as endpoint:
        before = httpx.get(f"{endpoint.url}/health")
        refused = httpx.post(
            f"{endpoint.url}/predict", content=body_of(records_of(june.iloc[:1], slice_contract))
        )
        registry.promote(1, reason="first champion")
        after = wait_until(lambda: ready(endpoint.url), "200 from /health once v1 is the champion")

    waiting = before.json()
    assert before.status_code == 503
    assert (waiting["status"], waiting["model"], waiting["model_version"]) == ("unavailable", MODEL, None)
    assert waiting["problem"].startswith(f"{MODEL} has no champion in ")
    assert refused.status_code == 503 and "no champion" in refused.json()["detail"]
    assert after.json() == {"status": "ok", "model": MODEL, "model_version": "v1"}  # and no `problem`


def test_a_valid_record_gets_the_champions_probability_and_version(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    loaded = registry.load(1)
    tables = SourceTables(slice_contract).references()
    version = DataVersion(dataset="flights", period="2013-06", sha256="0" * 64, key="-", rows=len(june))
    expected = score_batch(
        enrich_batch(version, june, slice_contract, tables), loaded.booster, loaded.spec, 1
    )

    one = httpx.post(f"{endpoint.url}/predict", content=body_of(records_of(june.iloc[:1], slice_contract)),
                     headers={"X-Request-ID": "first-flight"})  # fmt: skip
    many = httpx.post(f"{endpoint.url}/predict", content=body_of(records_of(june, slice_contract)))

    assert one.status_code == 200 and one.headers["x-model-version"] == "v1"
    assert one.json() == {
        "model": "flights-delay",
        "model_version": "v1",
        "request_id": "first-flight",
        "predictions": [{"probability": expected.prediction[0]}],
    }
    assert [p["probability"] for p in many.json()["predictions"]] == expected.prediction.tolist()
    assert one.headers["x-request-id"] == "first-flight" and len(many.json()["request_id"]) == 32


def test_bad_records_are_refused_naming_the_field_and_rule(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, _ = served
    good = records_of(june.iloc[:1], slice_contract)[0]
    cases = {
        "origin": ({**good, "origin": "BOS"}, 422, "allowed"),
        "carrier": ({**good, "carrier": "united"}, 422, "pattern"),
        "distance": ({**good, "distance": "far"}, 422, "type"),
        "sched_dep_time": ({**good, "sched_dep_time": 2400}, 422, "range"),
        "flight": ({key: value for key, value in good.items() if key != "flight"}, 422, "exists"),
        "arr_delay": ({**good, "arr_delay": 30.0}, 422, "extra_columns"),
    }
    for field, (record, status, rule) in cases.items():
        answer = httpx.post(f"{endpoint.url}/predict", content=body_of([good, record]))
        assert answer.status_code == status, answer.text
        [problem] = answer.json()["detail"]
        assert (problem["record"], problem["field"], problem["rule"]) == (1, field, rule)
    nan = body_of([{**good, "dep_time": "not a number"}]).replace(b'"not a number"', b"NaN")
    answer = httpx.post(f"{endpoint.url}/predict", content=nan)
    assert answer.status_code == 422
    assert (answer.json()["detail"][0]["field"], answer.json()["detail"][0]["rule"]) == ("dep_time", "type")
    broken = httpx.post(f"{endpoint.url}/predict", content=b'{"records": [{"year": 20')
    assert broken.status_code == 422 and broken.json()["detail"][0]["rule"] == "json"
    assert httpx.post(f"{endpoint.url}/predict", content=b"").status_code == 422


def test_too_many_records_or_too_many_bytes_is_413(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, _ = served
    record = records_of(june.iloc[:1], slice_contract)[0]
    many = httpx.post(f"{endpoint.url}/predict", content=body_of([record] * 2001))
    huge = httpx.post(f"{endpoint.url}/predict", content=b'{"records": [' + b" " * 1_200_000 + b"]}")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"records": ['
        for _ in range(300):
            yield b" " * 4096
        yield b"]}"

    streamed = httpx.post(f"{endpoint.url}/predict", content=chunks())

    assert many.status_code == 413 and "DRIFTLOOP_SERVE_MAX_RECORDS" in many.json()["detail"][0]["msg"]
    assert huge.status_code == 413 and "DRIFTLOOP_SERVE_MAX_BODY_BYTES" in huge.json()["detail"][0]["msg"]
    assert streamed.status_code == 413


def test_a_stalled_body_gets_408_and_its_connection_closed(served: tuple[ServiceEndpoint, Registry]) -> None:
    endpoint, _ = served
    host, port = endpoint.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        head = f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        started = time.monotonic()  # before sending: the service's clock starts once the headers are in
        client.sendall(f"{head}Content-Length: 100\r\n\r\n{{".encode())  # then nothing
        answer = b""
        while chunk := client.recv(4096):  # until the service closes the connection
            answer += chunk
        waited = time.monotonic() - started

    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert b"DRIFTLOOP_SERVE_BODY_TIMEOUT_SECONDS" in rest and b"1 bytes came" in rest
    # The body timeout (1 s), not the client's patience; the event loop's timers are read to the millisecond.
    assert 0.99 <= waited < 5


def test_explanations_model_stats_and_docs(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    body = body_of(records_of(june.iloc[:2], slice_contract))
    explained = httpx.post(f"{endpoint.url}/predict", params={"explain": "true"}, content=body).json()
    described = httpx.get(f"{endpoint.url}/model").json()
    stats = httpx.get(f"{endpoint.url}/stats").json()
    openapi = httpx.get(f"{endpoint.url}/openapi.json").json()

    prediction = explained["predictions"][0]
    assert len(prediction["contributions"]) == 5 and isinstance(prediction["bias"], float)
    sizes = [abs(c["contribution"]) for c in prediction["contributions"]]
    assert sizes == sorted(sizes, reverse=True)
    assert described["model_version"] == "v1" and described["contract"]["name"] == "flights"
    assert described["version"]["lineage"]["as_of"] == "2013-03"
    assert described["version"]["metrics"]["holdout"]["auc"] == registry.get(1).metrics.holdout.auc
    assert stats["model_version"] == "v1" and set(stats["lookup_misses"]) == {"weather", "planes"}
    record = openapi["components"]["schemas"]["FlightsRecord"]
    assert record["properties"]["origin"]["enum"] == ["EWR", "JFK", "LGA"]
    assert "requestBody" in openapi["paths"]["/predict"]["post"]
    assert httpx.get(f"{endpoint.url}/docs").status_code == 200


def test_docs_publish_the_bodies_health_model_and_stats_answer_with(
    served: tuple[ServiceEndpoint, Registry],
) -> None:
    endpoint, registry = served
    openapi = httpx.get(f"{endpoint.url}/openapi.json").json()
    schemas = openapi["components"]["schemas"]

    for path, name in (
        ("/health", "HealthResponse"),
        ("/model", "ModelResponse"),
        ("/stats", "StatsResponse"),
    ):
        body = httpx.get(f"{endpoint.url}{path}").json()
        published = openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert published["schema"] == {"$ref": f"#/components/schemas/{name}"}, path
        assert set(schemas[name]["required"]) <= set(body) <= set(schemas[name]["properties"]), path
    unavailable = openapi["paths"]["/health"]["get"]["responses"]["503"]["content"]["application/json"]
    assert unavailable["schema"] == {"$ref": "#/components/schemas/HealthResponse"}
    assert schemas["HealthResponse"]["properties"]["status"]["enum"] == ["ok", "unavailable"]
    described = httpx.get(f"{endpoint.url}/model").json()
    assert set(described["version"]) == set(schemas["ModelVersion"]["properties"])
    assert described["version"] == json.loads(registry.get(1).to_json())  # the manifest, as stored


def test_reload_needs_the_token(served: tuple[ServiceEndpoint, Registry]) -> None:
    endpoint, _ = served
    missing = httpx.post(f"{endpoint.url}/reload")
    wrong = httpx.post(f"{endpoint.url}/reload", headers={"Authorization": "Bearer nope"})
    right = httpx.post(f"{endpoint.url}/reload", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert right.status_code == 200 and right.json()["status"] == "unchanged" and right.json()["serving"] == 1


def test_every_prediction_is_in_the_log(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    start = pd.Timestamp.now(tz="UTC")
    sent = [f"logged-{n}" for n in range(5)]
    for identifier in sent:
        httpx.post(f"{endpoint.url}/predict", content=body_of(records_of(june.iloc[:3], slice_contract)),
                   headers={"X-Request-ID": identifier})  # fmt: skip

    def logged() -> pd.DataFrame:
        frame = read_prediction_log(
            registry.storage, slice_contract, "flights-delay", start, pd.Timestamp.now(tz="UTC")
        )
        return frame[frame["request_id"].isin(sent)]

    wait_until(lambda: len(logged()) == 15, "15 logged predictions")
    frame = logged()
    assert frame["request_id"].tolist() == [identifier for identifier in sent for _ in range(3)]
    assert frame["carrier"].tolist() == june["carrier"].iloc[:3].tolist() * 5
    assert set(frame["model_version"]) == {1}


def _batch_probabilities(
    registry: Registry, contract: Contract, rows: pd.DataFrame, version: int = 1
) -> list[float]:
    """What batch scoring gives the rows with `version` (v1 by default)."""
    loaded = registry.load(version)
    tables = SourceTables(contract).references()
    version = DataVersion(dataset="flights", period="2013-06", sha256="0" * 64, key="-", rows=len(rows))
    scored = score_batch(enrich_batch(version, rows, contract, tables), loaded.booster, loaded.spec, 1)
    return scored.prediction.tolist()


def test_arrow_answers_equal_the_json_answers_and_batch_scoring_bit_for_bit(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    records = records_of(june, slice_contract)
    url = f"{endpoint.url}/predict"
    arrow_body = arrow_of(records, slice_contract)

    as_json = httpx.post(url, content=body_of(records))
    arrow_in = httpx.post(url, content=arrow_body, headers={"Content-Type": ARROW})
    arrow_both = httpx.post(url, content=arrow_body, headers={"Content-Type": ARROW, "Accept": ARROW,
                                                              "X-Request-ID": "arrow-both"})  # fmt: skip

    expected = _batch_probabilities(registry, slice_contract, june)
    assert (as_json.status_code, arrow_in.status_code, arrow_both.status_code) == (200, 200, 200)
    assert [p["probability"] for p in as_json.json()["predictions"]] == expected
    assert [p["probability"] for p in arrow_in.json()["predictions"]] == expected  # exactly equal floats
    assert arrow_in.json()["model_version"] == "v1" and arrow_in.headers["x-model-version"] == "v1"
    assert arrow_both.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(arrow_both.content).read_all()
    assert table.column_names == ["probability"] and table.schema.field("probability").type == pa.float64()
    assert table.column("probability").to_pylist() == expected
    assert table.schema.metadata == {b"model": b"flights-delay", b"model_version": b"v1",
                                     b"request_id": b"arrow-both"}  # fmt: skip
    assert arrow_both.headers["x-request-id"] == "arrow-both"


def test_arrow_bodies_breaking_the_contract_are_refused_naming_field_rule_and_rows(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, _ = served
    records = records_of(june.iloc[:3], slice_contract)
    schema = arrow_schema(slice_contract)
    good = pa.Table.from_pylist(records, schema=schema)

    def column(name: str, values: pa.Array) -> bytes:
        return stream(good.set_column(schema.get_field_index(name), name, values))

    target = good.append_column("arr_delay", pa.array([1.0, 2.0, 3.0]))
    cases = {  # body, status, field, rule, row named
        "wrong type": (column("distance", pa.array(["far"] * 3)), 422, "distance", "type", None),
        "null": (column("carrier", pa.array(["UA", None, "AA"])), 422, "carrier", "max_null_fraction", 1),
        "out of range": (column("minute", pa.array([0, 60, 5])), 422, "minute", "range", 1),
        "not allowed": (column("origin", pa.array(["EWR", "JFK", "BOS"])), 422, "origin", "allowed", 2),
        "missing column": (stream(good.drop_columns(["flight"])), 422, "flight", "exists", None),
        "the target": (stream(target), 422, "arr_delay", "extra_columns", None),
        "not arrow": (body_of(records), 422, None, "arrow", None),
        "too many rows": (arrow_of(records * 667, slice_contract), 413, None, "size", None),
    }
    messages = {}
    for case, (body, status, field, rule, row) in cases.items():
        answer = httpx.post(f"{endpoint.url}/predict", content=body, headers={"Content-Type": ARROW})
        assert answer.status_code == status, (case, answer.text)
        [problem] = answer.json()["detail"]
        assert (problem["field"], problem["rule"], problem["record"]) == (field, rule, row), case
        assert answer.json()["problems"] == 1, case
        messages[case] = problem["msg"]
    bad = httpx.post(f"{endpoint.url}/predict", content=column("origin", pa.array(["BOS"] * 3)),
                     headers={"Content-Type": ARROW}).json()  # fmt: skip

    assert [(p["record"], p["loc"], p["got"]) for p in bad["detail"]] == [
        (row, ["body", "rows", row, "origin"], "BOS") for row in range(3)
    ]
    assert "DRIFTLOOP_SERVE_MAX_ARROW_ROWS" in messages["too many rows"]
    assert (
        messages["missing column"] == "column flight: breaks rule 'exists': expected present in every record"
    )


def test_refused_requests_are_logged_with_field_rule_and_records(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    start = pd.Timestamp.now(tz="UTC")
    records = records_of(june.iloc[:3], slice_contract)
    two_bad = [records[0], {**records[1], "origin": "BOS"}, {**records[2], "origin": "BOS"}]
    nulls = [{**records[0], "carrier": None}, records[1], {**records[2], "carrier": None}]
    json_refused = httpx.post(f"{endpoint.url}/predict", content=body_of(two_bad),
                              headers={"X-Request-ID": "refused-json"})  # fmt: skip
    arrow_refused = httpx.post(f"{endpoint.url}/predict", content=arrow_of(nulls, slice_contract),
                               headers={"X-Request-ID": "refused-arrow", "Content-Type": ARROW})  # fmt: skip
    broken = httpx.post(
        f"{endpoint.url}/predict", content=b'{"records": [', headers={"X-Request-ID": "broken"}
    )

    def logged() -> pd.DataFrame:
        frame = read_refusals(registry.storage, slice_contract, MODEL, start, pd.Timestamp.now(tz="UTC"))
        return frame[frame["request_id"].isin(["refused-json", "refused-arrow", "broken"])]

    wait_until(lambda: len(logged()) == 3, "3 rows in the refusal log")
    frame = logged()
    assert (json_refused.status_code, arrow_refused.status_code, broken.status_code) == (422, 422, 422)
    assert list(frame.columns) == [
        "served_at", "request_id", "model_version", "field", "rule", "records", "record_time"
    ]  # fmt: skip
    # the time of the JSON request's first record: what puts a refusal in a period for `monitor --served`
    first_time = records[0]["time_hour"]
    assert frame[
        ["request_id", "model_version", "field", "rule", "records", "record_time"]
    ].values.tolist() == [
        ["refused-json", 1, "origin", "allowed", 2, first_time],
        ["refused-arrow", 1, "carrier", "max_null_fraction", 2, None],
        ["broken", 1, None, "json", 0, None],
    ]
    assert frame["served_at"].between(start, pd.Timestamp.now(tz="UTC")).all()
    assert str(frame["served_at"].dt.tz) == "UTC" and str(frame["model_version"].dtype) == "Int64"


def test_arrow_predictions_are_in_the_log_as_their_json_would_be(
    served: tuple[ServiceEndpoint, Registry], slice_contract: Contract, june: pd.DataFrame
) -> None:
    endpoint, registry = served
    start = pd.Timestamp.now(tz="UTC")
    records = records_of(june.iloc[5:9], slice_contract)
    httpx.post(f"{endpoint.url}/predict", content=body_of(records), headers={"X-Request-ID": "logged-json"})
    httpx.post(f"{endpoint.url}/predict", content=arrow_of(records, slice_contract),
               headers={"X-Request-ID": "logged-arrow", "Content-Type": ARROW})  # fmt: skip

    def logged() -> pd.DataFrame:
        frame = read_prediction_log(
            registry.storage, slice_contract, MODEL, start, pd.Timestamp.now(tz="UTC")
        )
        return frame[frame["request_id"].isin(["logged-json", "logged-arrow"])]

    wait_until(lambda: len(logged()) == 8, "8 logged predictions")
    frame = logged()
    as_json = frame[frame["request_id"] == "logged-json"].drop(columns=["request_id", "served_at"])
    as_arrow = frame[frame["request_id"] == "logged-arrow"].drop(columns=["request_id", "served_at"])
    pd.testing.assert_frame_equal(as_json.reset_index(drop=True), as_arrow.reset_index(drop=True))
    assert as_arrow["carrier"].tolist() == june["carrier"].iloc[5:9].tolist()


def test_the_champion_swaps_under_load_with_no_failed_request_and_a_tampered_model_is_refused(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path, june: pd.DataFrame
) -> None:
    registry = copy_store(trained_store, tmp_path / "store", 1, slice_contract.model_name)
    records = records_of(june.iloc[:3], slice_contract)
    references = References(slice_contract, SourceTables(slice_contract).references())
    expected = {
        f"v{v}": ServedModel(registry.load(v), slice_contract, references, 10)
        .score(records)
        .probabilities.tolist()
        for v in (1, 2)
    }
    answers: list[tuple[int, str, list[float]]] = []
    latest: dict[int, str] = {}  # each client's last answer (a client keeps its connection: one worker)
    stop = threading.Event()

    def client(url: str, number: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                answer = http.post("/predict", content=body_of(records))
                body = answer.json() if answer.status_code == 200 else {"model_version": answer.text}
                probabilities = [p["probability"] for p in body.get("predictions", [])]
                answers.append((answer.status_code, body["model_version"], probabilities))
                latest[number] = body["model_version"]

    def every_client_served(version: str) -> bool:
        return len(latest) == len(threads) and set(latest.values()) == {version}

    def refusal_reported(url: str) -> dict[str, Any] | None:
        health = httpx.get(f"{url}/health").json()
        return health if "problem" in health else None

    with prediction_service(
        tmp_path / "store", trained_store.contract, tmp_path / "serve.log", FAST, 2
    ) as ep:
        threads = [threading.Thread(target=client, args=(ep.url, number)) for number in range(8)]
        for thread in threads:
            thread.start()
        try:
            for flip in range(6):
                registry.promote(2 if flip % 2 == 0 else 1, reason="flip")
                target = "v2" if flip % 2 == 0 else "v1"
                wait_until(lambda t=target: every_client_served(t), f"{target} answering every client")
            tamper(registry, 2)
            registry.promote(2, reason="a tampered file")
            health = wait_until(lambda: refusal_reported(ep.url), "refusal of the tampered v2 on /health")
            tampered = len(answers)
            wait_until(lambda: len(answers) > tampered + 50, "50 answers after the refusal")
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    assert [status for status, _, _ in answers if status != 200] == []
    assert {version for _, version, _ in answers} == {"v1", "v2"}
    assert all(probabilities == expected[version] for _, version, probabilities in answers)
    assert {version for _, version, _ in answers[tampered:]} == {"v1"}  # the tampered v2 never served
    assert (health["status"], health["model"], health["model_version"]) == ("ok", "flights-delay", "v1")
    assert health["problem"].startswith("v2 refused: ") and "SHA-256" in health["problem"]
    assert len(answers) > 200
    assert np.isfinite([p for _, _, ps in answers for p in ps]).all()


SHADOW = {**FAST, "DRIFTLOOP_SERVE_SHADOW": "true"}


def _metric(url: str, name: str, **labels: str) -> float | None:
    """One sample of /metrics, read by prometheus-client's parser; None when it is not there."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def _logged(registry: Registry, contract: Contract, start: pd.Timestamp, sent: list[str]) -> pd.DataFrame:
    frame = read_prediction_log(registry.storage, contract, MODEL, start, pd.Timestamp.now(tz="UTC"))
    return frame[frame["request_id"].isin(sent)].reset_index(drop=True)


def test_the_shadow_scores_every_request_in_the_log_and_never_in_the_answer(
    served: tuple[ServiceEndpoint, Registry],
    trained_store: TrainedStore,
    slice_contract: Contract,
    tmp_path: Path,
    june: pd.DataFrame,
) -> None:
    plain, _ = served  # v1 without a shadow
    registry = copy_store(trained_store, tmp_path / "store", 1, slice_contract.model_name)
    rows = june.iloc[:300]
    records = records_of(rows, slice_contract)
    bodies = {"shadow-one": body_of(records[:1]), "shadow-json": body_of(records[1:200])}
    arrow_body = arrow_of(records[200:], slice_contract)
    start = pd.Timestamp.now(tz="UTC")
    with prediction_service(tmp_path / "store", trained_store.contract, tmp_path / "serve.log", SHADOW) as ep:
        answers = {
            name: httpx.post(f"{ep.url}/predict", content=body, headers={"X-Request-ID": name})
            for name, body in bodies.items()
        }
        answers["shadow-arrow"] = httpx.post(
            f"{ep.url}/predict", content=arrow_body,
            headers={"X-Request-ID": "shadow-arrow", "Content-Type": ARROW, "Accept": ARROW},
        )  # fmt: skip
        health, described = httpx.get(f"{ep.url}/health").json(), httpx.get(f"{ep.url}/model").json()
        timed = {kind: _metric(ep.url, "driftloop_shadow_duration_seconds_count", format=kind)
                 for kind in ("json", "arrow")}  # fmt: skip
        gauge = _metric(ep.url, "driftloop_shadow_model", model=MODEL, version="v2")
        wait_until(lambda: len(_logged(registry, slice_contract, start, [*answers])) == 300, "300 logged")
    unshadowed = {
        name: httpx.post(f"{plain.url}/predict", content=body, headers={"X-Request-ID": name})
        for name, body in bodies.items()
    }
    frame = _logged(registry, slice_contract, start, [*answers])

    expected_v1 = _batch_probabilities(registry, slice_contract, rows)
    expected_v2 = _batch_probabilities(registry, slice_contract, rows, version=2)
    assert expected_v1 != expected_v2  # two models: a shadow's number in an answer would show
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 200)
    for name in bodies:  # the same bodies as a service without a shadow gives, byte for byte
        assert answers[name].content == unshadowed[name].content, name
        assert answers[name].headers["x-model-version"] == "v1"
    answered = [p["probability"] for name in bodies for p in answers[name].json()["predictions"]]
    arrow_answer = pa.ipc.open_stream(answers["shadow-arrow"].content).read_all()
    assert arrow_answer.column_names == ["probability"]
    assert answered + arrow_answer.column("probability").to_pylist() == expected_v1
    # the log: v1's probabilities as answered, v2's beside them, bit for bit its batch scoring
    order = frame["request_id"].map({"shadow-one": 0, "shadow-json": 1, "shadow-arrow": 2})
    frame = frame.assign(order=order).sort_values(["order", "record"], kind="stable")
    assert frame["prediction"].tolist() == expected_v1
    assert frame["shadow_prediction"].tolist() == expected_v2
    assert str(frame["shadow_version"].dtype) == "Int64" and set(frame["shadow_version"]) == {2}
    assert (health["model_version"], health["shadow_version"]) == (
        "v1",
        "v2",
    ) and "shadow_problem" not in health
    assert described["model_version"] == "v1" and described["shadow"]["model_version"] == "v2"
    assert described["shadow"]["version"]["lineage"]["as_of"] == "2013-05"
    assert (timed, gauge) == ({"json": 2.0, "arrow": 1.0}, 1.0)


def test_a_shadow_that_cannot_load_leaves_the_champion_serving(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path, june: pd.DataFrame
) -> None:
    registry = copy_store(trained_store, tmp_path / "store", 1, slice_contract.model_name)
    tamper(registry, 2)
    records = records_of(june.iloc[:20], slice_contract)
    start = pd.Timestamp.now(tz="UTC")
    with prediction_service(tmp_path / "store", trained_store.contract, tmp_path / "serve.log", SHADOW) as ep:
        health = httpx.get(f"{ep.url}/health")
        answer = httpx.post(f"{ep.url}/predict", content=body_of(records), headers={"X-Request-ID": "lone"})
        stats = httpx.get(f"{ep.url}/stats").json()
        wait_until(lambda: len(_logged(registry, slice_contract, start, ["lone"])) == 20, "20 logged")
    frame = _logged(registry, slice_contract, start, ["lone"])
    served_log = (tmp_path / "serve.log").read_text()

    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["model_version"], body["shadow_version"]) == ("ok", "v1", None)
    assert body["shadow_problem"].startswith("shadow v2 refused: ") and "SHA-256" in body["shadow_problem"]
    assert "problem" not in body  # the champion is fine
    assert answer.status_code == 200 and answer.headers["x-model-version"] == "v1"
    expected = _batch_probabilities(registry, slice_contract, june.iloc[:20])
    assert [p["probability"] for p in answer.json()["predictions"]] == expected
    assert frame["prediction"].tolist() == expected
    assert frame["shadow_version"].isna().all() and frame["shadow_prediction"].isna().all()
    assert stats["shadow"] == {
        "model_version": None, "scored_requests": 0, "failed_requests": 0, "swaps": 0, "refused_models": 1
    }  # fmt: skip
    assert served_log.count("shadow v2 refused") == 1  # said once, not at every poll
