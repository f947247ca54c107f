"""Named steps of the write paths, where the fault suite stops a real command on purpose.

A crash can land between any two writes. The steps below are the moments between writes that matter (after
the blobs and before the manifest, after the log entry and before the pointer moves, and so on); each is
marked in the code with `reached(step)`. Nothing happens there unless a test arms one step through the
environment (`FaultSettings`, loaded once by the command line): the command then kills itself with SIGKILL
at that step, as `kill -9` would, pauses there until the test lets it go, so that another writer can
run in between, or fails there as a full disk (ENOSPC) or a read-only file system (EROFS) would. That is
how `tests/faults/` reaches each moment deterministically, without sleeps or privileges.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STEPS: dict[str, str] = {
    "ingest.batch-stored": "a period's batch is stored under its content hash; the gate has not judged it",
    "gate.history-written": "a batch's gate history record is written; the period does not point at it yet",
    "register.claimed": "a registration's claim is taken; none of the version's blobs is stored",
    "register.blobs-stored": "every blob of a version is stored; its manifest (the commit point) is not",
    "register.committed": "a version's manifest is written; the registration's claim is still held",
    "promote.judged": "a challenger's evaluation is on record; the promotion log has not been appended",
    "promote.logged": "a promotion's log entry is written; the champion pointer has not moved",
    "monitor.report-stored": "a period's drift report is stored; its verdict is not",
    "monitor.verdict-stored": "a period's verdict is stored; the retraining policy has not decided",
    "retrain.requested": "a retrain request is on file; its event is not emitted",
    "store.renaming": "a file's bytes are in its temporary file (local store); it is not renamed into place",
}
POLL_SECONDS = 0.02
_ERRNO = {"enospc": errno.ENOSPC, "erofs": errno.EROFS}


class FaultSettings(BaseSettings):
    """A fault armed for one command (tests only): where it stops, and how."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_FAULT_", frozen=True)

    at: str | None = Field(default=None, description="the step (one of STEPS) where the command stops")
    action: Literal["kill", "pause", "enospc", "erofs"] = Field(
        default="kill",
        description="kill: SIGKILL itself there; pause: wait there until released; enospc: a full disk; "
        "erofs: a read-only file system",
    )
    gate: Path | None = Field(
        default=None,
        description="pause: the step creates GATE.reached, then waits while GATE exists",
    )


_armed: FaultSettings | None = None


def arm(settings: FaultSettings) -> None:
    """Arm the fault `settings` name (nothing when none is named): a kill or pause once, an error every
    time the step is reached.

    Raises:
        ValueError: the step is not one of `STEPS`, or a pause has no gate.
    """
    global _armed
    if settings.at is None:
        _armed = None
        return
    if settings.at not in STEPS:
        raise ValueError(f"DRIFTLOOP_FAULT_AT={settings.at!r} is not a step; the steps: {', '.join(STEPS)}")
    if settings.action == "pause" and settings.gate is None:
        raise ValueError("DRIFTLOOP_FAULT_ACTION=pause needs DRIFTLOOP_FAULT_GATE, the file it waits on")
    _armed = settings


def reached(step: str, path: str | None = None) -> None:
    """Mark `step` (a key of `STEPS`) as passed, writing `path` if it writes one; the armed fault, if it
    is this step, happens now."""
    global _armed
    fault = _armed
    if fault is None or fault.at != step:
        return
    if fault.action in _ERRNO:  # every time: a full disk stays full
        code = _ERRNO[fault.action]
        raise OSError(code, os.strerror(code), path)
    _armed = None  # once: a step inside a loop stops the command the first time only
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    assert fault.gate is not None  # checked by `arm`
    fault.gate.with_name(f"{fault.gate.name}.reached").touch()
    while fault.gate.exists():
        time.sleep(POLL_SECONDS)
