"""The stack as a user runs it: declarations applied, one retrain per drift, no listener open to anyone."""

from __future__ import annotations

import itertools
import json
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from driftloop.registry import Registry
from driftloop.retrain_requests import RetrainRequest, drift_event_id
from tests.integration.conftest import StackHandle

pytestmark = pytest.mark.integration
MODEL = "flights-delay"
DEPLOYMENTS = {
    "monitor/monthly",
    "retrain/retrain",
    "ingest/ingest",
    "train/train",
    "score/score",
    "backtest/backtest",
}


def test_apply_declares_everything_and_a_second_apply_changes_nothing(stack: StackHandle) -> None:
    again = stack.run("driftloop", "stack", "apply")

    first = stack.apply_output.splitlines()
    created = {line.split(":")[0].removeprefix("deployment ") for line in first if "created" in line}
    assert created >= DEPLOYMENTS
    assert "automation retrain-on-drift: created" in first
    assert "nothing to change: everything matches infra/" in again.stdout
    assert [line for line in again.stdout.splitlines() if line.endswith((": created", ": updated"))] == []
    deployments = stack.post("/deployments/filter", {})
    by_name = {f"{d['entrypoint'].split(':')[1].removesuffix('_flow')}/{d['name']}": d for d in deployments}
    monthly = next(d for d in deployments if d["name"] == "monthly")
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in monthly["schedules"]] == [
        ("0 6 2 * *", "UTC")
    ]
    retrain = next(d for d in deployments if d["name"] == "retrain")
    assert retrain["global_concurrency_limit"]["limit"] == 1
    assert retrain["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert {d["work_pool_name"] for d in deployments} == {"driftloop"}
    assert len(by_name) == len(DEPLOYMENTS)


def _listeners(pids: list[int]) -> set[int]:
    """Every TCP port in LISTEN state whose socket belongs to one of `pids` or their children."""
    family = set(pids)
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) in family:
            family.add(int(status.parent.name))
    inodes = set()
    for pid in family:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # 0A: LISTEN
                address, port = parts[1].split(":")
                assert address in ("0100007F", "00000000000000000000000001000000"), f"{parts[1]} not loopback"
                ports.add(int(port, 16))
    return ports


def _refuses_without_client_certificate(port: int) -> bool:
    """A TLS handshake without a client certificate fails, or the server answers no 2xx."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=3) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = tls.recv(64)
    except (ssl.SSLError, OSError):
        return True
    return not answer.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))


def _events_socket_answer(url: str, subprotocols: list[str] | None, first: dict[str, object]) -> str:
    """What the events websocket says to `first`: its reply's type, or how it refused."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url, subprotocols=subprotocols, open_timeout=5, close_timeout=2) as events:
            events.send(json.dumps(first))
            return str(json.loads(events.recv(timeout=5)).get("type"))
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"
    except ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else '-'}"


def test_no_listener_of_the_stack_reads_or_writes_without_credentials(stack: StackHandle) -> None:
    pids = [json.loads(p.read_text())["pid"] for p in (stack.state / "state" / "run").glob("*.pid")]
    ports = _listeners(pids)
    env = stack.env
    prefect, s3 = int(env["DRIFTLOOP_STACK_PREFECT_PORT"]), int(env["DRIFTLOOP_STACK_S3_PORT"])
    postgres = int(env["DRIFTLOOP_STACK_POSTGRES_PORT"])
    assert {prefect, s3, postgres} <= ports
    api = f"http://127.0.0.1:{prefect}/api"
    # Prefect: reads and writes refused without the basic-auth string (and with a wrong one).
    assert httpx.post(f"{api}/flows/filter", json={}).status_code == 401
    assert httpx.post(f"{api}/flows/", json={"name": "intruder"}).status_code == 401
    assert httpx.post(f"{api}/flows/filter", json={}, auth=("driftloop", "wrong")).status_code == 401
    # Prefect's websockets (events in: an unauthenticated drift event would start a retrain).
    events = f"ws://127.0.0.1:{prefect}/api/events/in"
    intruder = {"event": "driftloop.drift.detected", "resource": {"prefect.resource.id": "driftloop.model.x"}}
    token = env["PREFECT_API_AUTH_STRING"]
    assert _events_socket_answer(events, None, intruder).startswith(("refused", "closed"))
    assert _events_socket_answer(events, ["prefect"], {"type": "auth", "token": "wrong"}) == "closed 1008"
    assert _events_socket_answer(events, ["prefect"], {"type": "auth", "token": token}) == "auth_success"
    # S3: anonymous list, read and write refused.
    bucket = env["DRIFTLOOP_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    assert httpx.get(f"http://127.0.0.1:{s3}/{bucket}").status_code == 403
    assert httpx.get(f"http://127.0.0.1:{s3}/{bucket}/store/anything").status_code == 403
    assert httpx.put(f"http://127.0.0.1:{s3}/{bucket}/intruder", content=b"x").status_code == 403
    # PostgreSQL: no password, no way in.
    import asyncio

    import asyncpg

    async def login(password: str | None) -> str:
        try:
            connection = await asyncpg.connect(
                host="127.0.0.1", port=postgres, user="driftloop", password=password, database="prefect"
            )
        except (asyncpg.PostgresError, OSError) as refused:
            return type(refused).__name__
        await connection.close()
        return "connected"

    assert asyncio.run(login(None)) != "connected"
    assert asyncio.run(login("wrong")) != "connected"
    # Every other listener (SeaweedFS master, volume, filer gRPC, S3 gRPC): plain HTTP gets no 2xx, and
    # TLS without the stack's client certificate is refused.
    internal = ports - {prefect, s3, postgres}
    assert len(internal) >= 5
    for port in sorted(internal):
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/", timeout=3).status_code
        except httpx.HTTPError:
            status = None
        assert status is None or status >= 400, f"port {port} answered plain HTTP with {status}"
        assert _refuses_without_client_certificate(port), f"port {port} accepted TLS without a certificate"


def _requests(stack: StackHandle) -> list[RetrainRequest]:
    storage = stack.storage()
    keys = [k for k in storage.list(f"registry/{MODEL}/retrains") if not k.endswith(".outcome.json")]
    return [RetrainRequest.from_json(storage.read_bytes(key)) for key in keys]


def _registry(stack: StackHandle) -> Registry:
    return Registry(stack.storage(), MODEL)


def test_a_drifted_period_retrains_exactly_once_then_duplicates_and_stale_events_are_skipped(
    stack: StackHandle,
) -> None:
    trained = stack.run_deployment("train/train", {"as_of": "2013-03"})
    assert trained["state"]["type"] == "COMPLETED"
    # June: the January-March champion has aged a whole window (3 months): the policy retrains.
    monitored = stack.run_deployment("monitor/monthly", {"period": "2013-06"})
    assert (monitored["state"]["type"], monitored["name"]) == ("COMPLETED", "monitor 2013-06")
    event_id = drift_event_id(MODEL, "2013-06", 1)

    retrain = stack.wait_for("the automation's retrain run", lambda: stack.runs("retrain/retrain") or None)[0]
    retrain = stack.finished(retrain["id"])

    assert retrain["state"]["type"] == "COMPLETED"
    assert retrain["created_by"]["type"] == "AUTOMATION"
    assert retrain["name"] == "retrain after 2013-06"
    assert retrain["parameters"]["event_id"] == event_id
    assert str(retrain["parameters"]["champion_version"]) == "1"
    registry = _registry(stack)
    champion = registry.require_champion()
    log = registry.promotion_log()
    assert (champion.version, [e.version for e in log]) == (2, [1, 2])
    assert log[-1].data_period == "2013-06"
    assert "beats the champion" in log[-1].reason

    # The same event again: the server has seen its id, and a redelivery to the deployment trains nothing.
    stack.emit(event_id, "2013-06", 1)
    again = stack.run_deployment(
        "retrain/retrain", {"period": "2013-06", "event_id": event_id, "champion_version": 1}
    )
    # An event about v1, which v2 has replaced: recorded and skipped.
    stale_id = drift_event_id(MODEL, "2013-07", 1)
    stale = stack.run_deployment(
        "retrain/retrain", {"period": "2013-07", "event_id": stale_id, "champion_version": 1}
    )

    runs = stack.runs("retrain/retrain")
    assert [(r["created_by"] or {}).get("type") for r in runs].count("AUTOMATION") == 1
    assert (again["state"]["type"], stale["state"]["type"]) == ("COMPLETED", "COMPLETED")
    requests = {r.event_id: r for r in _requests(stack)}
    assert requests[event_id].status == "accepted"
    assert requests[event_id].run_id == retrain["id"]
    assert (requests[stale_id].status, requests[stale_id].run_id) == ("stale", stale["id"])
    assert [v.version for v in registry.versions()] == [1, 2]
    assert registry.require_champion().version == 2
    artifacts = stack.post("/artifacts/filter", {"artifacts": {"key": {"like_": "retrain-flights-delay"}}})
    skipped = sorted(a["description"] for a in artifacts if a["flow_run_id"] in (again["id"], stale["id"]))
    assert skipped == ["Retrain request 2013-06: skipped", "Retrain request 2013-07: skipped"]
    decisions = stack.post("/artifacts/filter", {"artifacts": {"key": {"like_": "decision-flights-delay"}}})
    assert {a["flow_run_id"] for a in decisions} <= {trained["id"], retrain["id"]}


def test_two_different_events_at_once_train_one_at_a_time_and_none_is_lost(stack: StackHandle) -> None:
    """The second event's run is cancelled while the first retrains (CANCEL_NEW) or runs after it; either
    way its pending record is taken by a run that ran, so both events end recorded, neither twice."""
    registry = _registry(stack)
    champion = registry.require_champion().version
    before = len(stack.runs("retrain/retrain"))
    first, second = drift_event_id(MODEL, "2013-08", champion), drift_event_id(MODEL, "2013-09", champion)

    stack.emit(first, "2013-08", champion)
    stack.emit(second, "2013-09", champion)

    def both() -> list[dict] | None:
        runs = stack.runs("retrain/retrain")[before:]
        return runs if len(runs) == 2 else None

    runs = stack.wait_for("two triggered retrain runs", both)
    finished = [stack.finished(run["id"]) for run in runs]

    states = sorted(run["state"]["type"] for run in finished)
    assert states in (["CANCELLED", "COMPLETED"], ["COMPLETED", "COMPLETED"])
    ran = sorted((r["start_time"], r["end_time"]) for r in finished if r["start_time"] is not None)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(ran))
    completed = {r["id"] for r in finished if r["state"]["type"] == "COMPLETED"}
    requests = {r.event_id: r for r in _requests(stack)}
    assert {requests[first].status, requests[second].status} <= {"accepted", "stale"}
    assert {requests[first].run_id, requests[second].run_id} <= completed
    trained = [event for event in (first, second) if requests[event].status == "accepted"]
    outcomes = {k.rsplit("/", 1)[1] for k in stack.storage().list(f"registry/{MODEL}/retrains")}
    assert {f"{event}.outcome.json" for event in trained} <= outcomes
    assert [r for r in requests.values() if r.status == "pending"] == []
