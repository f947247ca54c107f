"""The fault suite's harness: real `driftloop` commands, stopped at a named step of their write path.

A command runs as its own process against the session's Prefect server, with DRIFTLOOP_FAULT_AT naming
the step (`driftloop.core.faults`): it kills itself there (SIGKILL, as `kill -9` would) or pauses there
until the test lets it go. Every process a command starts inherits a marker, so the test can tell that
none of them outlived the kill.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from driftloop.core.storage import LocalStorage
from driftloop.registry import Registry
from driftloop.registry.check import check_registry

MARKER = "FAULT_SUITE_RUN"  # not DRIFTLOOP_*: the local Prefect server is started without those
KILLED = -9
TRAIN = ("train", "--as-of", "2013-03")  # the first champion of every fault test's store
EVERY_PERIOD = {"DRIFTLOOP_POLICY_TRIGGERS": '["every-period"]'}  # every period alarms: a retrain request
# Small trainings: what is tested is where a writer stops, not the model (`tests.conftest.slice_settings`
# trains 80 rounds, 3 folds: `AS_SLICE_SETTINGS` for a test that compares with a table made so).
SMALL_TRAINING = {"DRIFTLOOP_TRAIN_MAX_ROUNDS": "30", "DRIFTLOOP_TRAIN_CV_FOLDS": "2"}
AS_SLICE_SETTINGS = {"DRIFTLOOP_TRAIN_MAX_ROUNDS": "80", "DRIFTLOOP_TRAIN_CV_FOLDS": "3"}
LINGER_SECONDS = 10  # how long a process of a killed command may take to notice and go


@dataclass(frozen=True)
class Cli:
    """`driftloop` on one store and contract, against the session's Prefect server."""

    store: Path
    contract: Path

    def env(self, **extra: str) -> dict[str, str]:
        from prefect.settings import PREFECT_API_URL

        plain = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
        return {
            **plain,
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "DRIFTLOOP_DATA_CONTRACT": str(self.contract),
            **SMALL_TRAINING,
            "DRIFTLOOP_DRIFT_SAMPLE_ROWS": "2000",
            **extra,
        }

    def argv(self, *args: str) -> list[str]:
        """In the store's parent folder: what a command writes beside the store (`run` archives an earlier
        store to `.driftloop/archive/`) stays in the test's folder."""
        return [sys.executable, "-m", "deployments.cli", *args, "--store", str(self.store)]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run to the end (or to the armed fault); the marker names this run's processes."""
        marker = uuid.uuid4().hex
        done = subprocess.run(
            self.argv(*args),
            cwd=self.store.parent,
            env=self.env(**{MARKER: marker}, **env),
            capture_output=True,
            text=True,
            timeout=240,
        )
        _, left = psutil.wait_procs(_processes_marked(marker), timeout=LINGER_SECONDS)
        for process in left:
            process.kill()
        assert left == [], f"{' '.join(args)} left {[p.cmdline() for p in left]} running"
        # issue 19, finding 6: Prefect's own tracebacks (a flush cancelled at exit) on runs that succeeded
        assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        return done

    def killed_at(self, step: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run `args` killed at `step`: it must get there (a command that ends on its own fails the test)."""
        done = self.run(*args, DRIFTLOOP_FAULT_AT=step, **env)
        assert done.returncode == KILLED, (
            f"{' '.join(args)} never reached {step} (exit {done.returncode}): {done.stdout}{done.stderr}"
        )
        return done

    def paused_at(self, step: str, gate: Path, *args: str, **env: str) -> PausedRun:
        """Start `args` and return once it waits at `step`; `PausedRun.finish` lets it go on."""
        gate.touch()
        pause = {
            "DRIFTLOOP_FAULT_AT": step,
            "DRIFTLOOP_FAULT_ACTION": "pause",
            "DRIFTLOOP_FAULT_GATE": str(gate),
        }
        process = subprocess.Popen(
            self.argv(*args),
            cwd=self.store.parent,
            env=self.env(**pause, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        reached = gate.with_name(f"{gate.name}.reached")
        deadline = time.monotonic() + 240
        while not reached.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                pytest.fail(f"{' '.join(args)} never reached {step} (exit {process.returncode}): {output}")
            time.sleep(0.05)
        return PausedRun(process, gate)

    def registry(self) -> Registry:
        from driftloop.core.contract import load_contract

        return Registry(LocalStorage(self.store), load_contract(self.contract).model_name)


@dataclass(frozen=True)
class PausedRun:
    process: subprocess.Popen[str]
    gate: Path

    def finish(self) -> tuple[int, str]:
        self.gate.unlink()
        output = self.process.communicate(timeout=240)[0]
        return self.process.returncode, output


def _processes_marked(marker: str) -> list[psutil.Process]:
    """Live processes whose environment carries `marker` (children inherit it, even once orphaned)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def checks_out(cli: Cli) -> None:
    found = check_registry(cli.registry())
    assert found.problems == (), found.problems


def temporary_files(store: Path) -> list[str]:
    return sorted(str(path.relative_to(store)) for path in store.rglob(".*.tmp"))


def registry_table(cli: Cli) -> list[tuple[object, ...]]:
    """What a rerun must reproduce: each version's model bytes, and each promotion with its reason."""
    registry = cli.registry()
    versions = [("version", v.version, v.model_sha256, v.lineage.as_of) for v in registry.versions()]
    log = [("promotion", e.seq, e.version, e.previous_version, e.reason) for e in registry.promotion_log()]
    return versions + log


def copied(cli: Cli, to: Path) -> Cli:
    """The same commands on a copy of `cli`'s store at `to`."""
    shutil.copytree(cli.store, to)
    return Cli(to, cli.contract)
