"""`up`, `down` and `status` of the local stack: start each service once, check its health with a time
limit, record its pid; stop exactly what was recorded; keep every byte of data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from deployments.stack import postgres, prefect_services, seaweed
from deployments.stack.certs import ensure_certificates
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

SERVICES = ("postgres", "seaweedfs", "prefect-server", "worker")


class ServiceStatus(NamedTuple):
    name: str
    url: str
    pid: int | None
    healthy: bool


class Stack:
    """The four services of one state folder."""

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
        # Every port first: a taken one fails `up` before anything is started.
        for name, ports in self._listening_ports().items():
            if recorded_pid(self.pid_file(name)) is None:
                for port, setting in ports:
                    require_free(port, name, setting)
        self._postgres()
        self._service(
            "seaweedfs",
            lambda: seaweed.launch_spec(
                self.settings,
                self.secrets,
                ensure_certificates(self.settings.secrets / "tls"),
                self._ports(),
                self.log("seaweedfs"),
            ),
        )
        self._service(
            "prefect-server",
            lambda: prefect_services.server_spec(self.settings, self.secrets, self.log("prefect-server")),
        )
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
        process = recorded_process(self.pid_file(name))
        if process is not None:
            self.echo(f"{name}: already running (pid {process.pid})")
        else:
            launched = spec()
            process = launch(launched, self.pid_file(name))
            self.echo(f"{name}: started (pid {process.pid}), log {launched.log}")
        healthy = self._health()[name][1]
        wait_until(name, healthy, self.settings.start_timeout_seconds, process, self.log(name))
        self.echo(f"{name}: healthy")

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
            "worker": (
                f"work pool {self.pool!r}",
                lambda: prefect_services.worker_online(s, secrets, self.pool),
            ),
        }

    # ---- down --------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop in reverse order the recorded processes (pid and create time) with what each started;
        data, logs and secrets stay."""
        for name in reversed(SERVICES):
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
        rows = []
        for name in SERVICES:
            url, probe = probes[name]
            pid = recorded_pid(self.pid_file(name))
            rows.append(ServiceStatus(name, url, pid, pid is not None and bool(probe())))
        return rows

    def client_env(self) -> dict[str, str]:
        return prefect_services.client_env(self.settings, self.secrets)


def require_running(stack: Stack) -> None:
    down = [row.name for row in stack.status() if not row.healthy]
    if down:
        raise StackError(f"the stack is not up ({', '.join(down)} not healthy): run `driftloop stack up`")
