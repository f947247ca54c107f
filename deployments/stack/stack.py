"""`up`, `down` and `status` of the local stack: start each service once, check its health with a time
limit, record its pid; stop exactly what was recorded; keep every byte of data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import psutil

from deployments.stack import dask_cluster, postgres, prefect_services, seaweed
from deployments.stack.certs import StackCertificates, certificate_files, complete, ensure_certificates
from deployments.stack.clients import client_env
from deployments.stack.declared import load_declarations
from deployments.stack.ports import free_ports, require_free
from deployments.stack.processes import (
    Launch,
    StackError,
    launch,
    recorded_pid,
    recorded_process,
    stop,
    wait_until,
)
from deployments.stack.secrets import StackSecrets, load_or_create
from deployments.stack.settings import LOOPBACK, StackSettings

# Started in this order (the Dask scheduler and workers, when on, just before the worker whose runs use
# them), stopped in the reverse one.
FIRST = ("postgres", "seaweedfs", "prefect-server")
LAST = "worker"


class ServiceStatus(NamedTuple):
    name: str
    url: str
    pid: int | None
    healthy: bool
    detail: str = ""  # what the service says of itself (a Dask worker's threads and memory)


class Stack:
    """The services of one state folder: four, and a Dask scheduler and its workers when they are on."""

    def __init__(self, settings: StackSettings, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.echo = echo
        self.secrets: StackSecrets = load_or_create(settings.secrets)
        self.pool = load_declarations().work_pool.name

    # ---- paths -------------------------------------------------------------------------------
    def pid_file(self, service: str) -> Path:
        return self.settings.state / "run" / f"{service}.pid"

    def log(self, service: str) -> Path:
        return self.settings.state / "logs" / f"{service}.log"

    def services(self) -> list[str]:
        """Every service in start order: those the settings ask for, and the Dask services of earlier
        settings still recorded (`down` and `status` know them; `up` leaves them be)."""
        dask = {path.stem for path in (self.settings.state / "run").glob("dask-*.pid")}
        if self.settings.dask_workers:
            dask |= {
                dask_cluster.SCHEDULER,
                *map(dask_cluster.worker_name, range(self.settings.dask_workers)),
            }
        workers = sorted(
            (index, name) for name in dask if (index := dask_cluster.worker_index(name)) is not None
        )
        scheduler = [dask_cluster.SCHEDULER] if dask_cluster.SCHEDULER in dask else []
        return [*FIRST, *scheduler, *(name for _, name in workers), LAST]

    def _certificates(self) -> StackCertificates:
        """The stack's certificates. A set from before Dask is made again (a new CA) only while SeaweedFS,
        which keeps the CA it started with, is down."""
        folder = self.settings.secrets / "tls"
        certificates = certificate_files(folder)
        if complete(certificates) or recorded_pid(self.pid_file("seaweedfs")) is None:
            return ensure_certificates(folder)
        if self.settings.dask_workers:
            raise StackError(
                f"the stack's certificates in {folder} predate Dask, and SeaweedFS runs with them: "
                "run `driftloop stack down`, then `driftloop stack up`"
            )
        return certificates

    def _ports(self) -> dict[str, int]:
        """SeaweedFS's internal ports: free ones picked on the first `up`, the same ones after."""
        path = self.settings.state / "seaweedfs-ports.json"
        if path.exists():
            return json.loads(path.read_text())
        ports = dict(zip(seaweed.INTERNAL_PORTS, free_ports(len(seaweed.INTERNAL_PORTS)), strict=True))
        path.write_text(json.dumps(ports))
        return ports

    # ---- up ----------------------------------------------------------------------------------
    def up(self) -> None:
        state = self.settings.state
        for folder in (state, state / "run", state / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
        # Every port and the cores first: a taken port fails `up` before anything is started.
        dask_cluster.require_cores(self.settings, os.cpu_count())
        for name, ports in self._listening_ports().items():
            if recorded_pid(self.pid_file(name)) is None:
                for port, setting in ports:
                    require_free(port, name, setting)
        tls = self._certificates()
        self._postgres()
        self._service(
            "seaweedfs",
            lambda: seaweed.launch_spec(
                self.settings, self.secrets, tls.seaweedfs, self._ports(), self.log("seaweedfs")
            ),
        )
        self._service(
            "prefect-server",
            lambda: prefect_services.server_spec(self.settings, self.secrets, self.log("prefect-server")),
        )
        if self.settings.dask_workers:
            self._dask(tls)
        self._service(
            "worker",
            lambda: prefect_services.worker_spec(self.settings, self.secrets, self.pool, self.log("worker")),
        )

    def _listening_ports(self) -> dict[str, list[tuple[int, str]]]:
        """Each service's listening ports and the setting (or file) that moves them."""
        s = self.settings
        internal = f"(SeaweedFS internal; chosen on the first `up`, in {s.state}/seaweedfs-ports.json)"
        return {
            "postgres": [(s.postgres_port, "DRIFTLOOP_STACK_POSTGRES_PORT")],
            "seaweedfs": [
                (s.s3_port, "DRIFTLOOP_STACK_S3_PORT"),
                *((port, internal) for port in self._ports().values()),
            ],
            "prefect-server": [(s.prefect_port, "DRIFTLOOP_STACK_PREFECT_PORT")],
            dask_cluster.SCHEDULER: [(s.dask_scheduler_port, "DRIFTLOOP_STACK_DASK_SCHEDULER_PORT")]
            if s.dask_workers
            else [],
            "worker": [],
        }

    def _postgres(self) -> None:
        settings, log = self.settings, self.log("postgres")
        if recorded_pid(self.pid_file("postgres")) is not None:
            self.echo(f"postgres: already running ({postgres.data_dir(settings)})")
        else:
            if postgres.initialise(settings, self.secrets, log):
                self.echo(f"postgres: new cluster in {postgres.data_dir(settings)}")
            pid = postgres.start(settings, log, self.pid_file("postgres"))
            self.echo(f"postgres: started (pid {pid})")
        process = recorded_process(self.pid_file("postgres"))
        wait_until("postgres", self._health()["postgres"][1], settings.start_timeout_seconds, process, log)

    def _service(self, name: str, spec: Callable[[], Launch]) -> None:
        self._await(name, self._start(name, spec))

    def _start(self, name: str, spec: Callable[[], Launch]) -> psutil.Process:
        process = recorded_process(self.pid_file(name))
        if process is not None:
            self.echo(f"{name}: already running (pid {process.pid})")
        else:
            launched = spec()
            process = launch(launched, self.pid_file(name))
            self.echo(f"{name}: started (pid {process.pid}), log {launched.log}")
        return process

    def _await(self, name: str, process: psutil.Process) -> None:
        healthy = self._health()[name][1]
        wait_until(name, healthy, self.settings.start_timeout_seconds, process, self.log(name))
        self.echo(f"{name}: healthy")

    def _dask(self, tls: StackCertificates) -> None:
        """The scheduler, then every worker at once; healthy when the scheduler lists each of them."""
        s = self.settings
        self._service(
            dask_cluster.SCHEDULER,
            lambda: dask_cluster.scheduler_spec(s, tls.dask, self.log(dask_cluster.SCHEDULER)),
        )
        started = {}
        for index in range(s.dask_workers):
            name = dask_cluster.worker_name(index)
            spec = partial(dask_cluster.worker_spec, s, self.secrets, tls.dask, index, self.log(name))
            started[name] = self._start(name, spec)
        for name, process in started.items():
            self._await(name, process)

    def _health(self) -> dict[str, tuple[str, Callable[[], bool | None]]]:
        """Each service's address and its health probe: True when healthy, None while not (yet)."""
        s, secrets = self.settings, self.secrets
        return {
            "postgres": (
                f"postgresql://{LOOPBACK}:{s.postgres_port}/{postgres.DATABASE}",
                lambda: postgres.ensure_database(s, secrets) or None,
            ),
            "seaweedfs": (f"{s.s3_endpoint_url} (S3)", lambda: seaweed.s3_answers(s, secrets)),
            "prefect-server": (
                f"{s.ui_url} (UI), {s.prefect_api_url}",
                lambda: prefect_services.server_answers(s, secrets),
            ),
            dask_cluster.SCHEDULER: (s.dask_address, lambda: self._dask_workers() is not None or None),
            **{
                name: (f"a worker of {s.dask_address}", partial(self._dask_worker_listed, name))
                for name in self.services()
                if dask_cluster.worker_index(name) is not None
            },
            "worker": (
                f"work pool {self.pool!r}",
                lambda: prefect_services.worker_online(s, secrets, self.pool),
            ),
        }

    def _dask_workers(self) -> dict[str, dask_cluster.DaskWorker] | None:
        """The workers the scheduler lists (asked as a client); None when it does not answer."""
        client = certificate_files(self.settings.secrets / "tls").dask_client
        return dask_cluster.cluster_workers(self.settings, client)

    def _dask_worker_listed(self, name: str) -> bool | None:
        return name in (self._dask_workers() or {}) or None

    # ---- down --------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop in reverse order the recorded processes (pid and create time) with what each started;
        data, logs and secrets stay."""
        for name in reversed(self.services()):
            process = recorded_process(self.pid_file(name))
            if process is None:
                self.echo(f"{name}: not running")
            else:
                if name == "postgres":
                    postgres.stop(self.settings)
                stop(process, self.settings.stop_timeout_seconds)
                self.echo(f"{name}: stopped (pid {process.pid})")
            self.pid_file(name).unlink(missing_ok=True)

    # ---- status ------------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        probes = self._health()
        names = self.services()
        dask = set(names) - {*FIRST, LAST}
        pids = {name: recorded_pid(self.pid_file(name)) for name in names}
        # One question to the scheduler for all the Dask rows.
        workers = self._dask_workers() if pids.get(dask_cluster.SCHEDULER) else None
        rows = []
        for name in names:
            url, probe = probes[name]
            pid = pids[name]
            if name not in dask:
                rows.append(ServiceStatus(name, url, pid, pid is not None and bool(probe())))
            elif name == dask_cluster.SCHEDULER:
                detail = "not answering" if workers is None else _cluster_detail(list(workers.values()))
                rows.append(ServiceStatus(name, url, pid, pid is not None and workers is not None, detail))
            else:
                worker = (workers or {}).get(name)
                detail = "not connected to the scheduler" if worker is None else _worker_detail(worker)
                url = url if worker is None else worker.address
                rows.append(ServiceStatus(name, url, pid, pid is not None and worker is not None, detail))
        return rows

    def client_env(self) -> dict[str, str]:
        return client_env(self.settings, self.secrets)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _memory(limit: int) -> str:
    return f"{limit / 2**30:.1f} GiB" if limit else "no memory limit"


def _worker_detail(worker: dask_cluster.DaskWorker) -> str:
    return f"{_plural(worker.threads, 'thread')}, {_memory(worker.memory_limit)}"


def _cluster_detail(workers: list[dask_cluster.DaskWorker]) -> str:
    threads = sum(worker.threads for worker in workers)
    memory = sum(worker.memory_limit for worker in workers)
    return f"{_plural(len(workers), 'worker')}, {_plural(threads, 'thread')}, {_memory(memory)}"


def require_running(stack: Stack) -> None:
    down = [row.name for row in stack.status() if not row.healthy]
    if down:
        raise StackError(f"the stack is not up ({', '.join(down)} not healthy): run `driftloop stack up`")
