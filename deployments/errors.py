"""What the command line says when something goes wrong, and with which exit code.

One line naming the file, field, rule or setting and what to do; the traceback only with `--debug`.
The codes are documented in the README; scripts can rely on them.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from enum import IntEnum

from pydantic import ValidationError


class ExitCode(IntEnum):
    OK = 0
    CONTRACT_VIOLATION = 1  # the batch breaks its data contract (and was quarantined)
    USAGE = 2  # a wrong argument, period label, setting or contract file
    UNREADABLE_INPUT = 3  # a file that is missing, empty, truncated or not what its name says
    MISSING_PREREQUISITE = 4  # no champion yet, no validated batch, nothing to replay, used registry
    INFRASTRUCTURE = 5  # the store or the Prefect server cannot be reached
    INTERNAL = 70  # a bug in driftloop: please report it with the --debug output
    INTERRUPTED = 130  # Ctrl-C (SIGINT): stopped, nothing half-written
    TERMINATED = 143  # SIGTERM: stopped as on Ctrl-C, nothing half-written


class UsageError(ValueError):
    """A file or setting the user wrote is wrong; the message names it (exit code 2, one line)."""


class InfrastructureError(RuntimeError):
    """A service cannot be reached, started or stopped; the message is the one line the user sees."""


# Every error a user can meet, by exit code: the domain's named by the module a command imports it from,
# then this layer's and the standard library's. An error can only be one whose module is already imported,
# so classifying one imports nothing: a command that fails costs no more than one that succeeds
# (`driftloop models --card 99` stays free of pandas and LightGBM).
KNOWN_ERRORS: tuple[tuple[ExitCode, tuple[str, ...], tuple[type[BaseException], ...]], ...] = (
    (
        ExitCode.CONTRACT_VIOLATION,
        ("driftloop.data.gate:ContractViolation", "driftloop.modelling.leakage:LeakageSuspected"),
        (),
    ),
    (
        ExitCode.USAGE,
        (
            "driftloop.core.periods:PeriodLabelError",
            "driftloop.core.contract:InvalidContract",
            "driftloop.modelling.training:TooFewTimes",
        ),
        (ValidationError, UsageError),
    ),
    (
        ExitCode.UNREADABLE_INPUT,
        (
            "driftloop.data.sources:UnreadableInput",
            "driftloop.core.times:MissingTimeColumn",
            "driftloop.core.storage:ObjectNotFound",
            "driftloop.registry:IntegrityError",
        ),
        (),
    ),
    (
        ExitCode.MISSING_PREREQUISITE,
        (
            "driftloop.data.batches:NoDataForPeriod",
            "driftloop.registry:NoChampion",
            "driftloop.registry:UnknownVersion",
            "driftloop.data.gate:NoValidatedBatch",
            "driftloop.replay.plan:NothingToReplay",
            "driftloop.replay.plan:UsedRegistry",
            "driftloop.lifecycle.served:NothingServed",
        ),
        (),
    ),
    (
        ExitCode.INFRASTRUCTURE,
        ("driftloop.core.storage:StoreUnavailable",),
        (ConnectionError, TimeoutError, InfrastructureError),
    ),
)


def imported_types(names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    """The classes `names` ("module:Class") name whose modules are imported: no other can have been raised."""
    found = []
    for name in names:
        module, _, attribute = name.partition(":")
        if module in sys.modules:
            found.append(getattr(sys.modules[module], attribute))
    return tuple(found)


def classify(error: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one message a user sees for `error`."""
    api = prefect_api_problem(error)
    if api is not None:
        return ExitCode.INFRASTRUCTURE, api
    for code, domain, own in KNOWN_ERRORS:
        if isinstance(error, (*imported_types(domain), *own)):
            return code, _message(error)
    disk = disk_problem(error)  # after the domain's errors: an unreadable input stays exit 3
    if disk is not None:
        return ExitCode.INFRASTRUCTURE, disk
    return (
        ExitCode.INTERNAL,
        f"internal error ({type(error).__name__}): {error}. Rerun with --debug and report it.",
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def prefect_api_problem(error: BaseException) -> str | None:
    """One line when `error` (or what caused it) is the Prefect API out of reach or refusing us."""
    httpx = sys.modules.get("httpx")  # not imported: no request was made, so none failed
    if httpx is None:
        return None
    for cause in _chain(error):
        if isinstance(cause, httpx.TransportError):
            return (
                f"cannot reach the Prefect API at {_api_url(cause)} ({type(cause).__name__}): is the server "
                "up? (PREFECT_API_URL; the local stack: `driftloop stack status`)"
            )
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            if status in (401, 403):
                return (
                    f"the Prefect API at {_api_url(cause)} refused the credentials (HTTP {status}): check "
                    "PREFECT_API_AUTH_STRING (a self-hosted server) or PREFECT_API_KEY (Prefect Cloud)"
                )
            if status >= 500:
                return (
                    f"the Prefect API at {_api_url(cause)} is failing (HTTP {status}): see the server's log "
                    "(the local stack: `driftloop stack status`)"
                )
    return None


# A file system that refuses a write: what to do about each. Nothing is half-written when it happens (every
# object is one atomic write), so the same command completes once the cause is gone.
_DISK_ADVICE = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space or raise the quota",
    errno.EROFS: "remount it read-write, or point DRIFTLOOP_STORAGE_URL at a writable store",
    errno.EACCES: "give this user write access to it, or point DRIFTLOOP_STORAGE_URL elsewhere",
    errno.EPERM: "give this user write access to it, or point DRIFTLOOP_STORAGE_URL elsewhere",
}


def disk_problem(error: BaseException) -> str | None:
    """One line when `error` (or what caused it) is a full, read-only or forbidden file system."""
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in _DISK_ADVICE:
            where = f" {cause.filename}" if cause.filename else ""
            return (
                f"cannot use{where}: {cause.strerror or errno.errorcode[cause.errno]}; "
                f"{_DISK_ADVICE[cause.errno]}, then run the same command again (nothing was half-written)"
            )
    return None


def _api_url(error: BaseException) -> str:
    """The API the user configured (PREFECT_API_URL), else the address the failed request went to."""
    import os

    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return configured
    request = getattr(error, "_request", None)  # httpx raises on `.request` when none was attached
    return str(request.url) if request is not None else "(PREFECT_API_URL unset)"


def _message(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        return f"invalid {error.title}: {problems}"
    return str(error)
