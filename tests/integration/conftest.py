"""The real stack for the session: `driftloop stack up` + `apply` on free loopback ports in a temp folder;
and, for the module that tests it, a stack of its own with a Dask cluster.

PostgreSQL (and Chromium, for the UI test) come from Debian's packages: `scripts/system-packages.sh`
installs them when it can (root with apt-get); when it cannot, the tests are skipped and say why.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import psutil
import pytest

from deployments.environment import NO_TELEMETRY
from deployments.stack.ports import free_port
from deployments.stack.processes import recorded_process, running
from driftloop.lifecycle.retrain_requests import DriftEvent
from tests.conftest import REPO, SLICE_FRACTION, write_contract

T = TypeVar("T")
DRIFTLOOP = str(Path(sys.executable).parent / "driftloop")
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def eventually(probe: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T | None:
    """`probe`'s first answer other than None, asked every `interval` s; None once `timeout` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer is not None or time.monotonic() >= deadline:
            return answer
        time.sleep(interval)


def system_packages() -> str | None:
    """None when PostgreSQL and Chromium are there (installed now if need be), else why not."""
    done = subprocess.run(
        [str(REPO / "scripts" / "system-packages.sh")], capture_output=True, text=True, check=False
    )
    return None if done.returncode == 0 else done.stderr.strip()


class StackHandle(NamedTuple):
    """A running stack: the environment its clients use, its API, and where its state lives."""

    env: dict[str, str]  # the test process's environment plus the stack's client settings
    api: httpx.Client
    state: Path
    apply_output: str

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        if args[0] == "driftloop":  # the venv's, without relying on PATH
            args = (DRIFTLOOP, *args[1:])
        done = subprocess.run(
            args, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def storage(self, max_attempts: int = 5) -> Any:
        """The S3 store this environment's runs use (DRIFTLOOP_STORAGE_URL, DRIFTLOOP_S3_*)."""
        from driftloop.core.settings import S3Settings
        from driftloop.core.storage import open_storage

        keys = S3Settings(
            endpoint_url=self.env["DRIFTLOOP_S3_ENDPOINT_URL"],
            access_key_id=self.env["DRIFTLOOP_S3_ACCESS_KEY_ID"],
            secret_access_key=self.env["DRIFTLOOP_S3_SECRET_ACCESS_KEY"],
            max_attempts=max_attempts,
        )
        return open_storage(self.env["DRIFTLOOP_STORAGE_URL"], keys)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.api.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = 240) -> T:
        """`probe`'s first answer other than None (an API out of reach answers None); the services' logs
        in the failure after `timeout` s."""

        def answer() -> T | None:
            with contextlib.suppress(httpx.TransportError):
                return probe()
            return None

        found = eventually(answer, timeout, interval=0.5)
        if found is not None:
            return found
        logs = "\n".join(
            f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in sorted((self.state / "logs").glob("*.log"))
        )
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def runs(self, deployment: str) -> list[dict[str, Any]]:
        flow, name = deployment.split("/")
        found = self.api.get(f"/deployments/name/{flow}/{name}").json()
        body = {"flow_runs": {"deployment_id": {"any_": [found["id"]]}}, "sort": "START_TIME_ASC"}
        return self.post("/flow_runs/filter", body)

    def run_deployment(self, deployment: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Start a deployment run and wait until it ends; returns the finished run."""
        flow, name = deployment.split("/")
        found = self.api.get(f"/deployments/name/{flow}/{name}").json()
        run = self.post(f"/deployments/{found['id']}/create_flow_run", {"parameters": parameters})
        return self.finished(run["id"])

    def finished(self, run_id: str, timeout: float = 300) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run = self.api.get(f"/flow_runs/{run_id}").json()
            return run if run["state"]["type"] in TERMINAL else None

        return self.wait_for(f"flow run {run_id}", done, timeout)

    def emit(self, event_id: str, period: str, champion_version: int, model: str = "flights-delay") -> None:
        """`driftloop.drift.detected` as the monitor flow emits it (recorded as pending first), from a
        separate client process."""
        drift = DriftEvent(
            event_id=event_id,
            model=model,
            period=period,
            champion_version=champion_version,
            reason=f"test drift {period}",
        )
        self.run(sys.executable, "-c", EMIT, drift.to_json(), timeout=60)


EMIT = """
import sys, uuid
from prefect.events import emit_event
from driftloop.lifecycle.retrain_requests import DriftEvent, announce
from driftloop.core.settings import S3Settings, StorageSettings
from driftloop.core.storage import open_storage
drift = DriftEvent.from_json(sys.argv[1])
announce(open_storage(StorageSettings().url, S3Settings()), drift, None)
event = emit_event(
    event="driftloop.drift.detected",
    id=uuid.UUID(drift.event_id),
    resource={"prefect.resource.id": f"driftloop.model.{drift.model}"},
    payload=drift.model_dump(mode="json"),
)
assert event is not None, "not emitted"
"""


def _client_env(state: Path, ports: dict[str, int], contract: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLOOP_", "AWS_"))}
    env.update(
        {
            **NO_TELEMETRY,
            "PREFECT_HOME": str(state / "client-home"),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "MPLBACKEND": "Agg",
            "DRIFTLOOP_STACK_DIR": str(state / "state"),
            "DRIFTLOOP_STACK_SECRETS_DIR": str(state / "secrets"),
            "DRIFTLOOP_STACK_PREFECT_PORT": str(ports["prefect"]),
            "DRIFTLOOP_STACK_POSTGRES_PORT": str(ports["postgres"]),
            "DRIFTLOOP_STACK_S3_PORT": str(ports["s3"]),
            # What the runs read (the worker passes them on): a small real slice, quick trainings.
            "DRIFTLOOP_DATA_CONTRACT": str(contract),
            "DRIFTLOOP_DATA_SAMPLE_FRACTION": str(SLICE_FRACTION),
            "DRIFTLOOP_TRAIN_MAX_ROUNDS": "60",
            "DRIFTLOOP_TRAIN_CV_FOLDS": "3",
            "DRIFTLOOP_DRIFT_SAMPLE_ROWS": "2000",
        }
    )
    return env


def _stack_env(env: dict[str, str]) -> dict[str, str]:
    """`driftloop stack env`, parsed: the stack's API, its basic-auth string and the S3 store."""
    printed = subprocess.run(
        [DRIFTLOOP, "stack", "env"], env=env, capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    import shlex

    pairs = [shlex.split(line.removeprefix("export "))[0] for line in printed.splitlines()]
    return dict(pair.split("=", 1) for pair in pairs)


@contextlib.contextmanager
def _running_stack(
    slice_contract: Any, settings: dict[str, str] | None = None, apply: bool = True
) -> Iterator[StackHandle]:
    """`driftloop stack up` (with `settings` on top of the free ports), then `apply` if asked; at the end
    `stack down`, which must leave nothing running."""
    missing = system_packages()
    if missing:
        pytest.skip(f"the stack needs Debian packages: {missing}")
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user when we are root, and pytest's
    # folders (0700, root's) would keep it out. The folder is ours, searchable, not listable.
    root = Path(tempfile.mkdtemp(prefix="driftloop-stack-", dir="/tmp"))
    root.chmod(0o711)
    contract = write_contract(slice_contract, root / "flights-slice.yaml")
    ports = {"prefect": free_port(), "postgres": free_port(), "s3": free_port()}
    env = {**_client_env(root, ports, contract), **(settings or {})}
    up = subprocess.run(
        [DRIFTLOOP, "stack", "up"], env=env, cwd=REPO, capture_output=True, text=True, timeout=400
    )
    try:
        if up.returncode != 0:
            pytest.fail(f"driftloop stack up exited {up.returncode}:\n{up.stdout}\n{up.stderr}")
        env.update(_stack_env(env))
        applied_output = ""
        if apply:
            applied = subprocess.run(
                [DRIFTLOOP, "stack", "apply"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
            )
            assert applied.returncode == 0, applied.stdout + applied.stderr
            applied_output = applied.stdout
        token = base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode()
        with httpx.Client(
            base_url=env["PREFECT_API_URL"], headers={"Authorization": f"Basic {token}"}, timeout=15
        ) as api:
            yield StackHandle(env, api, root, applied_output)
    finally:
        # Each service with its children: `stack down` stops the whole family.
        family: list[psutil.Process] = []
        for pid_file in (root / "state" / "run").glob("*.pid"):
            service = recorded_process(pid_file)
            if service is not None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    family += [service, *service.children(recursive=True)]
        down = subprocess.run(
            [DRIFTLOOP, "stack", "down"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        left = [str(p) for p in family if running(p)]
        shutil.rmtree(root, ignore_errors=True)
        assert down.returncode == 0, down.stdout + down.stderr
        assert left == [], f"still running after `stack down`: {left}"


@pytest.fixture(scope="session")
def stack(slice_contract: Any) -> Iterator[StackHandle]:
    """The shared stack, declarations applied; no Dask."""
    with _running_stack(slice_contract) as handle:
        yield handle


DASK_WORKERS = 2
DASK_MEMORY_LIMIT = "1GiB"


@pytest.fixture(scope="module")
def dask_stack(slice_contract: Any) -> Iterator[StackHandle]:
    """A stack of its own with a Dask scheduler and two workers, for one module: the shared stack does not
    carry the cluster. Nothing is applied to it."""
    dask = {
        "DRIFTLOOP_STACK_DASK_WORKERS": str(DASK_WORKERS),
        "DRIFTLOOP_STACK_DASK_SCHEDULER_PORT": str(free_port()),
        "DRIFTLOOP_STACK_DASK_MEMORY_LIMIT": DASK_MEMORY_LIMIT,
        # On a one-core machine the test insists on its two workers.
        "DRIFTLOOP_STACK_DASK_OVERSUBSCRIBE": str((os.cpu_count() or 1) < DASK_WORKERS).lower(),
    }
    with _running_stack(slice_contract, dask, apply=False) as handle:
        yield handle
