"""Data versions: ingest a month as content-hashed Parquet, gate it, quarantine what breaks the contract.

Store layout under `data/<dataset>/`:

- `batches/<month>/<sha256>.parquet`: an immutable data version (the SHA-256 of its bytes).
- `validated/<month>.json`: the data version of the month that passed the gate (what training reads).
- `reports/<sha256>.json`: the gate's report for a data version.

A batch that fails the gate is moved to `quarantine/<dataset>/<month>/<sha256>/` with `batch.parquet`
and `report.json`; nothing under `validated/` changes, so training and the champion are untouched.
"""

from __future__ import annotations

import json

import pandas as pd
from pydantic import BaseModel, ConfigDict

from driftloop.contract import Contract
from driftloop.data import (
    check_month,
    from_parquet_bytes,
    sample_batch,
    select_month,
    to_parquet_bytes,
)
from driftloop.storage import ObjectNotFound, Storage, sha256_hex
from driftloop.validation import ValidationReport, validate_batch


class DataVersion(BaseModel):
    """An immutable, addressable batch: where it is and what its bytes hash to."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    month: str
    sha256: str
    key: str
    rows: int

    @property
    def short(self) -> str:
        return self.sha256[:12]


class ContractViolation(Exception):
    """A batch broke its data contract; the message names every broken rule."""

    def __init__(self, report: ValidationReport, quarantine_key: str) -> None:
        super().__init__(f"{report.message()}\nQuarantined at {quarantine_key}")
        self.report = report
        self.quarantine_key = quarantine_key


def batch_key(dataset: str, month: str, sha256: str) -> str:
    return f"data/{dataset}/batches/{month}/{sha256}.parquet"


def quarantine_prefix(dataset: str, month: str, sha256: str) -> str:
    return f"quarantine/{dataset}/{month}/{sha256}"


def store_batch(storage: Storage, dataset: str, month: str, frame: pd.DataFrame) -> DataVersion:
    """Write a batch under its content hash; identical data maps to the same, already-stored version."""
    data = to_parquet_bytes(frame)
    digest = sha256_hex(data)
    key = batch_key(dataset, check_month(month), digest)
    if not storage.exists(key):
        storage.write_bytes(key, data)
    return DataVersion(dataset=dataset, month=month, sha256=digest, key=key, rows=len(frame))


def ingest_month(
    storage: Storage,
    contract: Contract,
    table: pd.DataFrame,
    month: str,
    fraction: float = 1.0,
    seed: int = 0,
) -> DataVersion:
    """Cut `month` out of the source table (optionally a fixed-seed slice) and store it as a data version."""
    batch = sample_batch(select_month(table, contract, month), fraction, seed)
    return store_batch(storage, contract.name, month, batch)


def read_batch(storage: Storage, version: DataVersion) -> pd.DataFrame:
    """Read a data version, checking its bytes still hash to its name."""
    data = storage.read_bytes(version.key)
    if sha256_hex(data) != version.sha256:
        raise ValueError(f"data version {version.key} is corrupt: its SHA-256 changed")
    return from_parquet_bytes(data)


def gate_batch(storage: Storage, contract: Contract, version: DataVersion) -> ValidationReport:
    """Validate a data version; on pass record it as the month's validated batch, on failure quarantine it.

    Args:
        storage: the artifact store.
        contract: the data contract to enforce.
        version: the ingested data version.

    Returns:
        The passing report.

    Raises:
        ContractViolation: the batch broke the contract (also when it was quarantined by an earlier run).
    """
    quarantine = quarantine_prefix(contract.name, version.month, version.sha256)
    if not storage.exists(version.key) and storage.exists(f"{quarantine}/report.json"):
        report = ValidationReport.from_json(storage.read_bytes(f"{quarantine}/report.json").decode())
        raise ContractViolation(report, storage.uri(quarantine))
    report = validate_batch(read_batch(storage, version), contract)
    storage.write_bytes(f"data/{contract.name}/reports/{version.sha256}.json", report.to_json().encode())
    if not report.passed:
        storage.write_bytes(f"{quarantine}/batch.parquet", storage.read_bytes(version.key))
        storage.write_bytes(f"{quarantine}/report.json", report.to_json().encode())
        storage.delete(version.key)  # moved, not copied: nothing downstream can pick it up
        raise ContractViolation(report, storage.uri(quarantine))
    record = version.model_dump() | {"contract_fingerprint": contract.fingerprint}
    storage.write_bytes(
        f"data/{contract.name}/validated/{version.month}.json", json.dumps(record, sort_keys=True).encode()
    )
    return report


def validated_version(storage: Storage, contract: Contract, month: str) -> DataVersion:
    """The data version of `month` that passed the gate; a clear error if there is none."""
    try:
        record = json.loads(storage.read_bytes(f"data/{contract.name}/validated/{check_month(month)}.json"))
    except ObjectNotFound:
        raise LookupError(
            f"no validated batch of {contract.name} for {month}: ingest and validate it first"
        ) from None
    record.pop("contract_fingerprint", None)
    return DataVersion(**record)


def validated_versions(
    storage: Storage, contract: Contract, months: list[str]
) -> tuple[list[DataVersion], list[str]]:
    """Validated data versions of `months` and the months that have none (blocked or never ingested).

    Raises:
        LookupError: not one of the months has a validated batch.
    """
    found: list[DataVersion] = []
    missing: list[str] = []
    for month in months:
        try:
            found.append(validated_version(storage, contract, month))
        except LookupError:
            missing.append(month)
    if not found:
        raise LookupError(f"no validated batch of {contract.name} in {', '.join(months)}: ingest them first")
    return found, missing


def quarantined(storage: Storage, contract: Contract) -> list[str]:
    """Keys of quarantined batches' reports, for the CLI and docs."""
    return [k for k in storage.list(f"quarantine/{contract.name}/") if k.endswith("report.json")]
