"""Load generation for `bench/serving.py`: wrk over loopback, a Lua script that rotates real bodies.

wrk is a Debian package. When it is missing and this runs as root, it is installed with apt-get;
otherwise the script stops and says how to install it. Its latencies come from wrk's own histogram
(HdrHistogram, microseconds), read in the Lua `done` hook, so p99 is not rounded to wrk's printout.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

APT_GET = "/usr/bin/apt-get"  # by its full path: this runs as root, not whatever PATH finds first

_LUA = """
local bodies = {%(bodies)s}
local count = #bodies
local index = 0
local threads = {}
setup = function(thread)
  thread:set("first", #threads * 97)
  table.insert(threads, thread)
end
init = function(args)
  index = (first or 0) %% count
end
%(pause)s
request = function()
  index = index %% count + 1
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, bodies[index])
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%.6f, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d, "non_2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def ensure(tool: str) -> str:
    """A load generator's binary (`wrk`); installed with apt-get when missing and running as root."""
    found = shutil.which(tool)
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit(f"{tool} is missing: install it with `sudo apt-get install -y {tool}`, then rerun")
    print(f"installing {tool} (apt-get) ...", flush=True)
    subprocess.run([APT_GET, "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([APT_GET, "install", "-y", "-qq", tool], check=True, stdout=subprocess.DEVNULL)
    return shutil.which(tool) or tool


def lua_script(bodies: list[bytes], path: str, target: Path, pause_ms: float = 0) -> Path:
    """A wrk script that POSTs `bodies` in turn (each thread starting elsewhere in the list).

    With `pause_ms`, each connection waits that long after a response before its next request: a load
    below saturation, so the latencies are those a client sees at that rate, not those of a full queue.
    """
    quoted = ",".join(f"[==[{body.decode()}]==]" for body in bodies)
    # wrk's delay() counts whole milliseconds: carry the fraction over, so the pauses average `pause_ms`.
    pause = (
        f"local owed = 0\ndelay = function()\n  owed = owed + {pause_ms}\n  local whole = math.floor(owed)\n"
        "  owed = owed - whole\n  return whole\nend"
        if pause_ms
        else ""
    )
    target.write_text(_LUA % {"bodies": quoted, "path": path, "pause": pause})
    return target


def run_wrk(
    url: str, script: Path, connections: int, seconds: float, server: int, threads: int | None = None
) -> dict[str, Any]:
    """One bounded wrk run: `connections` keep-alive connections kept busy for `seconds`."""
    threads = threads or min(connections, 2)
    command = [ensure("wrk"), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(script), url]  # fmt: skip
    out, cpu = _measured(command, server, seconds)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    return {
        "connections": connections,
        "requests_per_second": result["requests"] / result["seconds"],
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "requests": result["requests"],
        "failed": result["non_2xx"] + result["socket_errors"],
        **_per_request(cpu, result["requests"]),
    }


def _measured(command: list[str], server: int, seconds: float) -> tuple[str, dict[str, float]]:
    """Run a load generator; its output, and the CPU seconds of the server, of it, and of the rest."""
    before = (_busy_seconds(), _tree_seconds(server), _children_seconds(), time.monotonic())
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    after = (_busy_seconds(), _tree_seconds(server), _children_seconds(), time.monotonic())
    busy, served, load, wall = (a - b for a, b in zip(after, before, strict=True))
    return out, {"server": served, "generator": load, "other": max(busy - served - load, 0.0), "wall": wall}


def _per_request(cpu: dict[str, float], requests: int) -> dict[str, float]:
    return {
        "server_cpu_ms_per_request": cpu["server"] / max(requests, 1) * 1000,
        "wrk_cores": cpu["generator"] / cpu["wall"],
        "other_cores": cpu["other"] / cpu["wall"],
    }


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _, _, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _tree_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants (uvicorn's workers) so far."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = [
                int(child)
                for task in Path(f"/proc/{current}/task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        pending += children
    return total


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def running(
    command: list[str], ready: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process and wait until `ready` answers 200; stop it (SIGINT) when the block ends."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not _answers(ready):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[2:5]} did not start; see {log}")
            time.sleep(0.25)
        yield process
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
