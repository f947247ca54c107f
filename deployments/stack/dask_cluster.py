"""The stack's Dask cluster: a scheduler and N workers on 127.0.0.1, mutual TLS on every listener.

`dask scheduler` and `dask worker` (each worker with its nanny) are started as plain commands. Each one
listens on 127.0.0.1 only, speaks nothing but TLS, and requires the peer's certificate to be signed by the
stack's CA: the scheduler and workers hold the Dask certificate, a client the Dask client certificate
(`driftloop stack env` names its files). There is no dashboard and no Jupyter server; the HTTP server
Dask starts in every scheduler and worker regardless (metrics, JSON, health) listens on a random port of
127.0.0.1 and serves no route at all.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from deployments.stack.certs import TlsFiles
from deployments.stack.clients import PROJECT_DIR, inherited, runner_env
from deployments.stack.prefect_services import worker_home
from deployments.stack.processes import Launch, StackError
from deployments.stack.secrets import StackSecrets
from deployments.stack.settings import LOOPBACK, StackSettings

if TYPE_CHECKING:  # distributed is imported to probe the cluster, not to start it
    from distributed.security import Security

SCHEDULER = "dask-scheduler"
WORKER_PREFIX = "dask-worker-"
PROBE_TIMEOUT_SECONDS = 3.0  # one health probe's connection; the caller asks again
# Dask's own configuration, as its environment variables: a plain-TCP address is refused, never dialled;
# the HTTP servers, which cannot be turned off and have no authentication, have nothing to serve.
DASK_CONFIG = {
    "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
    "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES": "[]",
    "DASK_DISTRIBUTED__WORKER__HTTP__ROUTES": "[]",
}
NO_DASHBOARD = ["--no-dashboard", "--dashboard-address", f"{LOOPBACK}:0"]


class DaskWorker(NamedTuple):
    """One worker as the scheduler sees it."""

    name: str
    address: str
    threads: int
    memory_limit: int  # bytes; 0: none


def worker_name(index: int) -> str:
    return f"{WORKER_PREFIX}{index}"


def worker_index(name: str) -> int | None:
    """The index in a worker's name, None for any other name."""
    number = name.removeprefix(WORKER_PREFIX)
    return int(number) if name.startswith(WORKER_PREFIX) and number.isdigit() else None


def require_cores(settings: StackSettings, cores: int | None) -> None:
    """One `StackError` line when the workers' threads together exceed the machine's cores, unless allowed."""
    workers, each = settings.dask_workers, settings.dask_threads_per_worker
    if workers * each <= (cores or 1) or settings.dask_oversubscribe:
        return
    raise StackError(
        f"{workers} Dask workers × {each} thread{'s' if each > 1 else ''} = {workers * each} threads, more "
        f"than this machine's {cores} cores: lower DRIFTLOOP_STACK_DASK_WORKERS or "
        "DRIFTLOOP_STACK_DASK_THREADS_PER_WORKER, or set DRIFTLOOP_STACK_DASK_OVERSUBSCRIBE=true "
        '(see "Two runs on the same cores" in docs/operations.md)'
    )


def _tls_options(tls: TlsFiles) -> list[str]:
    return ["--tls-ca-file", str(tls.ca), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]


def scheduler_spec(settings: StackSettings, tls: TlsFiles, log: Path) -> Launch:
    """`dask scheduler` on tls://127.0.0.1:<port>, with the Dask certificate; no dashboard, no Jupyter."""
    folder = settings.dask_dir
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", LOOPBACK]
    argv += ["--port", str(settings.dask_scheduler_port), "--protocol", "tls", *_tls_options(tls)]
    argv += [*NO_DASHBOARD, "--no-jupyter"]
    return Launch(SCHEDULER, argv, {**inherited(), **DASK_CONFIG}, folder, log)


def worker_spec(
    settings: StackSettings, secrets: StackSecrets, tls: TlsFiles, index: int, log: Path
) -> Launch:
    """One `dask worker` (a nanny and its worker process) with its threads, memory limit and folder.

    It runs driftloop's tasks, so it has what the worker's flow runs have (the store, the API, the shell's
    `DRIFTLOOP_*` settings), in the project folder, but not the cluster's address: what runs on a worker
    runs there, not on the cluster again.
    """
    name = worker_name(index)
    folder = settings.dask_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", settings.dask_address, "--name", name]
    argv += ["--host", LOOPBACK, "--nworkers", "1", "--nthreads", str(settings.dask_threads_per_worker)]
    argv += ["--memory-limit", settings.dask_memory_limit, "--local-directory", str(folder)]
    argv += [*_tls_options(tls), *NO_DASHBOARD]
    env = {k: v for k, v in runner_env(settings, secrets).items() if not k.startswith("DRIFTLOOP_DASK_")}
    env |= {**DASK_CONFIG, "PREFECT_HOME": str(worker_home(settings))}
    return Launch(name, argv, env, PROJECT_DIR, log)


def client_security(tls: TlsFiles) -> Security:
    """What a client of the cluster presents: the Dask client certificate, TLS only."""
    from distributed.security import Security

    return Security(
        tls_ca_file=str(tls.ca),
        tls_client_cert=str(tls.cert),
        tls_client_key=str(tls.key),
        require_encryption=True,
    )


def cluster_workers(settings: StackSettings, tls: TlsFiles) -> dict[str, DaskWorker] | None:
    """The workers the scheduler knows, by name, asked with the client certificate `tls`; None when the
    scheduler does not answer within `PROBE_TIMEOUT_SECONDS`."""
    from distributed.core import rpc

    arguments = client_security(tls).get_connection_args("client")

    async def identity() -> dict:
        async with rpc(
            settings.dask_address, connection_args=arguments, timeout=PROBE_TIMEOUT_SECONDS
        ) as scheduler:
            return await asyncio.wait_for(scheduler.identity(), PROBE_TIMEOUT_SECONDS)

    try:
        answer = asyncio.run(identity())
    except (OSError, TimeoutError):  # refused, closed, TLS errors: all OSErrors in distributed
        return None
    workers = [
        DaskWorker(
            name=str(seen["name"]),
            address=address,
            threads=int(seen["nthreads"]),
            memory_limit=int(seen["memory_limit"] or 0),
        )
        for address, seen in answer["workers"].items()
    ]
    return {worker.name: worker for worker in workers}
