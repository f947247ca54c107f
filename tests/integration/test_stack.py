"""The stack as a user runs it: declarations applied, one retrain per drift, scheduled runs wait for data."""

from __future__ import annotations

import itertools

import pytest

from driftloop.lifecycle.retrain_requests import RetrainRequest, drift_event_id
from driftloop.registry import Registry
from tests.integration.conftest import StackHandle

pytestmark = pytest.mark.integration
MODEL = "flights-delay"
DEPLOYMENTS = {
    "monitor/monthly",
    "monitor/monitor-served",
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
    assert "automation crash-unresponsive-runs: created" in first
    assert [line for line in again.stdout.splitlines() if ": created" in line or ": updated" in line] == []
    assert "nothing to change: everything matches infra/" in again.stdout
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
    automations = {a["name"]: a for a in stack.post("/automations/filter", {})}
    zombies = automations["crash-unresponsive-runs"]
    assert (zombies["trigger"]["posture"], zombies["trigger"]["within"]) == ("Proactive", 600.0)
    assert [(a["type"], a["state"]) for a in zombies["actions"]] == [("change-flow-run-state", "CRASHED")]
    assert [a["type"] for a in automations["retrain-on-drift"]["actions"]] == ["run-deployment"]


def test_the_stack_s_logs_and_pids_are_readable_by_the_team_and_its_secrets_are_not(
    stack: StackHandle,
) -> None:
    state, secrets = stack.state / "state", stack.state / "secrets"
    shared = [state, state / "logs", state / "run", *state.glob("logs/*.log"), *state.glob("run/*.pid")]
    private = [secrets, *secrets.rglob("*")]

    assert len(shared) >= 3 + 4 + 4  # four services: a log and a pid each
    assert {path.stat().st_mode & 0o777 for path in shared} <= {0o755, 0o644, 0o640}
    assert {path.stat().st_mode & 0o077 for path in private} == {0}


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
    published = {a["flow_run_id"] for a in decisions}
    assert {trained["id"], retrain["id"]} <= published and not published & {again["id"], stale["id"]}


def test_two_different_events_at_once_train_one_at_a_time_and_none_is_lost(stack: StackHandle) -> None:
    """The second event's run is cancelled while the first retrains (CANCEL_NEW) or runs after it; either
    way its pending record is taken by a run that ran, so both events end recorded, neither twice."""
    registry = _registry(stack)
    champion = registry.require_champion().version
    before = len(stack.runs("retrain/retrain"))
    # Periods whose windows hold June, which monitoring ingested (a real event's period always is).
    first, second = drift_event_id(MODEL, "2013-06", champion), drift_event_id(MODEL, "2013-07", champion)

    stack.emit(first, "2013-06", champion)
    stack.emit(second, "2013-07", champion)

    def both() -> list[dict] | None:
        runs = stack.runs("retrain/retrain")[before:]
        return runs if len(runs) == 2 else None

    runs = stack.wait_for("two triggered retrain runs", both)
    finished = [stack.finished(run["id"]) for run in runs]

    states = sorted(run["state"]["type"] for run in finished)
    assert states in (["CANCELLED", "COMPLETED"], ["COMPLETED", "COMPLETED"])
    # Only runs that entered Running: Prefect gives a run cancelled before it ran a start time too.
    ran = sorted((r["start_time"], r["end_time"], r["state"]["type"]) for r in finished if r["run_count"] > 0)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(ran)), ran
    assert len(ran) == states.count("COMPLETED"), finished
    completed = {r["id"] for r in finished if r["state"]["type"] == "COMPLETED"}
    requests = {r.event_id: r for r in _requests(stack)}
    assert {requests[first].status, requests[second].status} <= {"accepted", "stale"}
    assert {requests[first].run_id, requests[second].run_id} <= completed
    trained = [event for event in (first, second) if requests[event].status == "accepted"]
    outcomes = {k.rsplit("/", 1)[1] for k in stack.storage().list(f"registry/{MODEL}/retrains")}
    assert {f"{event}.outcome.json" for event in trained} <= outcomes
    assert [r for r in requests.values() if r.status == "pending"] == []


def test_a_scheduled_monitoring_run_names_the_closed_period_and_waits_for_its_data(
    stack: StackHandle,
) -> None:
    """The scheduler's own next run of monitor/monthly, started now: the 2013 source has no data for it."""
    import pandas as pd

    from driftloop.core.contract import load_contract
    from driftloop.core.periods import last_closed_period

    def scheduled() -> list[dict] | None:
        runs = [
            r
            for r in stack.runs("monitor/monthly")
            if r["auto_scheduled"] and r["state"]["type"] == "SCHEDULED"
        ]
        return runs or None

    run = min(
        stack.wait_for("the scheduler's runs", scheduled, timeout=120), key=lambda r: r["expected_start_time"]
    )
    now = {
        "type": "SCHEDULED",
        "name": "Scheduled",
        "state_details": {"scheduled_time": pd.Timestamp.now(tz="UTC").isoformat()},
    }
    stack.post(f"/flow_runs/{run['id']}/set_state", {"state": now, "force": True})

    done = stack.finished(run["id"])

    time = load_contract(stack.env["DRIFTLOOP_DATA_CONTRACT"]).time
    period = last_closed_period(pd.Timestamp(done["expected_start_time"]), time.period, time.timezone)
    assert (done["state"]["type"], done["state"]["name"]) == ("COMPLETED", "Waiting for data")
    assert (done["name"], done["parameters"]) == (f"monitor {period}", {})
    assert "nothing ingested or quarantined" in done["state"]["message"]
    store = stack.storage()
    assert store.list(f"quarantine/flights/{period}") == store.list(f"data/flights/batches/{period}") == []
