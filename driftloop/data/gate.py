"""The gate: a data version passes its contract and becomes the period's validated batch, or is quarantined.

A failing batch is moved to its own quarantine entry with its report; nothing under `validated/`
changes, so training and the champion are untouched. A version that already passed under the same
contract is not checked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pydantic import model_validator

from driftloop.core import faults, layout
from driftloop.core.clock import now_utc
from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.records import Record
from driftloop.core.storage import Storage, read_if_exists
from driftloop.data.batches import DataVersion, read_batch
from driftloop.data.validation import ValidationReport, validate_batch


class ValidatedBatch(Record):
    """The record that a data version passed the gate under a given contract."""

    version: DataVersion
    contract_fingerprint: str
    validated_at: str | None = None  # None in records written before v0.2
    replaced: str | None = None  # SHA-256 of the version this one replaced for the period, if any

    @model_validator(mode="before")
    @classmethod
    def _from_flat_record(cls, data: object) -> object:
        """Records before v0.2 were the version's fields plus `contract_fingerprint`, side by side."""
        if isinstance(data, dict) and "version" not in data and "sha256" in data:
            fingerprint = data.get("contract_fingerprint", "")
            version = {key: value for key, value in data.items() if key != "contract_fingerprint"}
            return {"version": version, "contract_fingerprint": fingerprint}
        return data


class UnreadableReport(Record):
    """Why a source file could not be read at all."""

    path: str
    reason: str
    sha256: str
    arrived_at: str


class ContractViolation(Exception):
    """A batch broke its data contract; the message names every broken rule and where it was quarantined."""

    def __init__(self, report: ValidationReport, quarantine_uri: str) -> None:
        super().__init__(f"{report.message()}\nQuarantined at {quarantine_uri}")
        self.report = report
        self.quarantine_uri = quarantine_uri


class NoValidatedBatch(LookupError):
    """A period has no batch that passed the gate (never ingested, or quarantined)."""


@dataclass(frozen=True)
class GateResult:
    """A passed gate: the report, and the batch itself when the gate had to read it (else None)."""

    version: DataVersion
    report: ValidationReport
    frame: pd.DataFrame | None


def _quarantine_entry(storage: Storage, contract: Contract, version: DataVersion) -> str | None:
    """The quarantine entry holding this version, if an earlier run quarantined it."""
    folder = layout.quarantine(contract.name, version.period, "x").rsplit("/", 1)[0]
    suffix = f"-{version.sha256[:16]}/{layout.QUARANTINE_REPORT}"
    found = [key for key in storage.list(folder) if key.endswith(suffix)]
    return found[0].rsplit("/", 1)[0] if found else None


def is_missing(storage: Storage, contract: Contract, version: DataVersion) -> bool:
    """True when a data version is neither in the store nor quarantined: it was deleted behind our back."""
    return not storage.exists(version.key) and _quarantine_entry(storage, contract, version) is None


def gate_batch(
    storage: Storage, contract: Contract, version: DataVersion, frame: pd.DataFrame | None = None
) -> GateResult:
    """Validate a data version; on pass record it as the period's validated batch, on failure quarantine it.

    Args:
        storage: the artifact store.
        contract: the data contract to enforce.
        version: the ingested data version.
        frame: the batch if the caller holds it already; otherwise it is read (once) from the store.

    Returns:
        The passing report, and the frame when it was read or given.

    Raises:
        ContractViolation: the batch broke the contract (also when an earlier run quarantined it).
    """
    previous = _current(storage, contract, version.period)
    if (
        previous is not None
        and previous.version.sha256 == version.sha256
        and previous.contract_fingerprint == contract.fingerprint
    ):
        report = ValidationReport.from_json(
            storage.read_bytes(layout.gate_report(contract.name, version.sha256))
        )
        return GateResult(version=version, report=report, frame=frame)
    if not storage.exists(version.key):
        entry = _quarantine_entry(storage, contract, version)
        if entry is not None:
            report_key = f"{entry}/{layout.QUARANTINE_REPORT}"
            report = ValidationReport.from_json(storage.read_bytes(report_key))
            raise ContractViolation(report, storage.uri(entry))
    batch = frame if frame is not None else read_batch(storage, version)
    report = validate_batch(batch, contract, period=version.period)
    if not report.passed:  # a failed batch writes nothing outside its quarantine entry
        raise ContractViolation(report, storage.uri(_quarantine(storage, contract, version, report)))
    storage.write_bytes(layout.gate_report(contract.name, version.sha256), report.to_json().encode())
    _record_validated(storage, contract, version, previous)
    return GateResult(version=version, report=report, frame=batch)


def _quarantine(storage: Storage, contract: Contract, version: DataVersion, report: ValidationReport) -> str:
    """Move the batch to its own entry (arrival time + content hash) with its report; returns the entry."""
    arrival = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    entry = layout.quarantine(contract.name, version.period, f"{arrival}-{version.sha256[:16]}")
    storage.write_bytes(f"{entry}/{layout.QUARANTINED_BATCH}", storage.read_bytes(version.key))
    storage.write_bytes(f"{entry}/{layout.QUARANTINE_REPORT}", report.to_json().encode())
    storage.delete(version.key)  # moved, not copied: nothing downstream can pick it up
    return entry


def quarantine_unreadable(storage: Storage, contract: Contract, path: Path, reason: str) -> str:
    """Keep an unreadable source file's bytes and why, in its own entry; returns the entry's address."""
    data = path.read_bytes()
    arrival = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    entry = layout.quarantine(contract.name, "unreadable", f"{arrival}-{sha256_hex(data)[:16]}")
    storage.write_bytes(f"{entry}/{path.name}", data)
    report = UnreadableReport(path=str(path), reason=reason, sha256=sha256_hex(data), arrived_at=now_utc())
    storage.write_bytes(f"{entry}/{layout.QUARANTINE_REPORT}", report.to_json().encode())
    return storage.uri(entry)


def _record_validated(
    storage: Storage, contract: Contract, version: DataVersion, previous: ValidatedBatch | None
) -> None:
    replaced = previous.version.sha256 if previous and previous.version.sha256 != version.sha256 else None
    record = ValidatedBatch(
        version=version, contract_fingerprint=contract.fingerprint, validated_at=now_utc(), replaced=replaced
    )
    # History first: if we die between the two writes, the period still points at the old version.
    storage.write_bytes(
        layout.validated_history(contract.name, version.period, version.sha256), record.to_json().encode()
    )
    faults.reached("gate.history-written")
    storage.write_bytes(layout.validated(contract.name, version.period), record.to_json().encode())


def _current(storage: Storage, contract: Contract, period: str) -> ValidatedBatch | None:
    data = read_if_exists(storage, layout.validated(contract.name, period))
    return ValidatedBatch.from_json(data) if data is not None else None


def validated_version(storage: Storage, contract: Contract, period: str) -> DataVersion:
    """The data version of `period` that passed the gate; `NoValidatedBatch` if there is none."""
    record = _current(storage, contract, period)
    if record is None:
        raise NoValidatedBatch(
            f"no validated batch of {contract.name} for {period}: ingest and validate it first"
        )
    return record.version


def validated_versions(
    storage: Storage, contract: Contract, periods: list[str]
) -> tuple[list[DataVersion], list[str]]:
    """Validated data versions of `periods` and the periods that have none (blocked or never ingested).

    Raises:
        NoValidatedBatch: not one of the periods has a validated batch.
    """
    found: list[DataVersion] = []
    missing: list[str] = []
    for period in periods:
        record = _current(storage, contract, period)
        if record is None:
            missing.append(period)
        else:
            found.append(record.version)
    if not found:
        raise NoValidatedBatch(_none_validated(storage, contract, periods))
    return found, missing


def _none_validated(storage: Storage, contract: Contract, periods: list[str]) -> str:
    """Why not one of `periods` has a validated batch: quarantined by the contract, or never ingested."""
    root = layout.quarantine_root(contract.name)
    blocked = [period for period in periods if storage.list(f"{root}/{period}/")]
    never = [period for period in periods if period not in blocked]
    reasons = []
    if blocked:
        where = storage.uri(root)
        reasons.append(f"{', '.join(blocked)} broke the contract (quarantined, reports under {where})")
    if never:
        them = "it" if len(never) == 1 else "them"
        reasons.append(f"{', '.join(never)} never ingested: ingest {them} first")
    return f"no validated batch of {contract.name} in {', '.join(periods)}: " + "; ".join(reasons)
