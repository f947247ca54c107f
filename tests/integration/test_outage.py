"""The store dies in the middle of a run: one line naming the endpoint, nothing half-registered, and after
`driftloop stack up` brings it back, the same command completes with a consistent registry.

The run is a training from the command line. SeaweedFS is killed (SIGKILL: no graceful end) the moment the
run claims the registration of its model, so the cut falls while the model's files are written or, on a
fast machine, in the evaluation and promotion right after; either way the registry must come out whole.
The test uses a store prefix of its own, so the other tests' registry is untouched.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from deployments.stack.processes import recorded_process, running
from driftloop.core.contract import load_contract
from driftloop.core.storage import Storage
from driftloop.data.gate import validated_versions
from driftloop.registry import Registry
from tests.conftest import REPO
from tests.integration.conftest import DRIFTLOOP, StackHandle, eventually

pytestmark = pytest.mark.integration
MODEL = "flights-delay"


def _stop_seaweedfs_when(stack: StackHandle, store: Storage, prefix: str, run: subprocess.Popen[str]) -> None:
    """SIGKILL the stack's SeaweedFS as soon as a key appears under `prefix`; wait until it is gone."""
    seaweedfs = recorded_process(stack.state / "state" / "run" / "seaweedfs.pid")
    assert seaweedfs is not None, "the stack's SeaweedFS is not running"

    def registering() -> bool | None:
        assert run.poll() is None, "the run ended before it registered anything"
        return bool(store.list(prefix)) or None

    # Asked often: the cut must fall while the model is being registered, not after.
    assert eventually(registering, timeout=300, interval=0.05), f"nothing appeared under {prefix} in 300 s"
    seaweedfs.kill()
    assert eventually(lambda: not running(seaweedfs) or None, timeout=30), (
        "SeaweedFS outlived SIGKILL by 30 s"
    )


def _assert_consistent(store: Storage, contract_path: str) -> None:
    """One committed version whose every file matches its SHA-256, the champion on it, data it can find."""
    registry = Registry(store, MODEL)
    assert [v.version for v in registry.versions()] == [1]
    loaded = registry.load(1)  # model text and feature spec, SHA-256 checked
    assert loaded.booster.num_trees() > 0
    assert registry.card(1).startswith("#") and len(registry.reference(1)) > 0
    assert registry.yardsticks(1) is not None
    assert [(e.seq, e.version) for e in registry.promotion_log()] == [(1, 1)]
    assert registry.require_champion().version == 1
    contract = load_contract(contract_path)
    versions, missing = validated_versions(store, contract, ["2013-01", "2013-02", "2013-03"])
    assert missing == [] and all(store.exists(v.key) for v in versions)
    assert loaded.version.lineage.data_versions == tuple(versions)


def test_the_store_stopped_mid_run_fails_in_one_line_and_a_rerun_completes_consistently(
    stack: StackHandle,
) -> None:
    bucket = stack.env["DRIFTLOOP_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    env = {**stack.env, "DRIFTLOOP_STORAGE_URL": f"s3://{bucket}/outage"}
    own = stack._replace(env=env)
    store = own.storage(max_attempts=1)
    endpoint = env["DRIFTLOOP_S3_ENDPOINT_URL"]

    # Two boto3 attempts instead of five: the same failure, sooner (the task retries still run).
    failing = {**env, "DRIFTLOOP_S3_MAX_ATTEMPTS": "2"}
    run = subprocess.Popen(
        [DRIFTLOOP, "train", "--as-of", "2013-03"], cwd=REPO, env=failing, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _stop_seaweedfs_when(stack, store, f"registry/{MODEL}/claims", run)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
        restarted = own.run("driftloop", "stack", "up")

    lines = (out + err).splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert run.returncode == 5, out + err
    assert len(errors) == 1 and "Traceback" not in out + err
    assert errors[0].startswith(f"error: s3://{bucket}/outage: cannot reach {endpoint} (")
    assert errors[0].endswith("is the S3 server up? (DRIFTLOOP_S3_ENDPOINT_URL)")
    assert len(lines) == 3, lines  # the run's start, its link, the one error line
    run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", out + err)
    assert run_id is not None, out + err
    failed = stack.api.get(f"/flow_runs/{run_id.group(1)}").json()["state"]
    assert failed["type"] == "FAILED" and endpoint in failed["message"]
    assert "seaweedfs: started" in restarted.stdout and "prefect-server: already running" in restarted.stdout

    rerun = own.run("driftloop", "train", "--as-of", "2013-03")

    assert re.match(r"v1 \(holdout AUC 0\.\d{4}\) promoted to champion:", rerun.stdout), rerun.stdout
    _assert_consistent(own.storage(), env["DRIFTLOOP_DATA_CONTRACT"])
