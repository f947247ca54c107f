"""What the command line says when something goes wrong, and with which exit code.

One line naming the file, field, rule or setting and what to do; the traceback only with `--debug`.
The codes are documented in the README; scripts can rely on them.
"""

from __future__ import annotations

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


def _known() -> list[tuple[tuple[type[BaseException], ...], ExitCode]]:
    # Imported here: `driftloop --help` must not pay for pandas and LightGBM.
    from driftloop.batches import NoDataForPeriod
    from driftloop.contract import InvalidContract
    from driftloop.gate import ContractViolation, NoValidatedBatch
    from driftloop.leakage import LeakageSuspected
    from driftloop.periods import PeriodLabelError
    from driftloop.registry import IntegrityError, NoChampion, UnknownVersion
    from driftloop.replay import NothingToReplay, UsedRegistry
    from driftloop.sources import UnreadableInput
    from driftloop.storage import ObjectNotFound, StoreUnavailable

    return [
        ((ContractViolation, LeakageSuspected), ExitCode.CONTRACT_VIOLATION),
        ((PeriodLabelError, InvalidContract, ValidationError), ExitCode.USAGE),
        ((UnreadableInput, ObjectNotFound, IntegrityError), ExitCode.UNREADABLE_INPUT),
        (
            (NoDataForPeriod, NoChampion, UnknownVersion, NoValidatedBatch, NothingToReplay, UsedRegistry),
            ExitCode.MISSING_PREREQUISITE,
        ),
        ((StoreUnavailable, ConnectionError, TimeoutError), ExitCode.INFRASTRUCTURE),
    ]


def classify(error: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one message a user sees for `error`."""
    for types, code in _known():
        if isinstance(error, types):
            return code, _message(error)
    return (
        ExitCode.INTERNAL,
        f"internal error ({type(error).__name__}): {error}. Rerun with --debug and report it.",
    )


def _message(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        return f"invalid {error.title}: {problems}"
    return str(error)
