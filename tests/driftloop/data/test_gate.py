"""The gate: a passing version becomes the period's validated batch (with history); a failing one goes to
its own quarantine entry with its report, and nothing else is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.storage import LocalStorage, ObservedStorage
from driftloop.data.batches import sample_batch, store_batch
from driftloop.data.gate import (
    ContractViolation,
    NoValidatedBatch,
    ValidatedBatch,
    gate_batch,
    is_missing,
    validated_version,
    validated_versions,
)


@pytest.fixture(scope="module")
def april(flights_table: pd.DataFrame, slice_contract: Contract) -> pd.DataFrame:
    from driftloop.data.batches import cut_period

    return sample_batch(cut_period(flights_table, slice_contract, "2013-04"), 0.08, seed=13)


@pytest.fixture()
def store(tmp_path: Path) -> ObservedStorage:
    return ObservedStorage(LocalStorage(tmp_path / "store"))


def test_a_passing_batch_is_recorded_with_its_history(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    version = store_batch(store, "flights", "2013-04", april)
    result = gate_batch(store, slice_contract, version, april)

    assert result.report.passed and result.frame is april
    assert validated_version(store, slice_contract, "2013-04") == version
    history = ValidatedBatch.from_json(
        store.read_bytes(layout.validated_history("flights", "2013-04", version.sha256))
    )
    assert (history.version, history.replaced) == (version, None)
    assert store.reads_under("data/flights/batches") == 0  # the caller's frame was used, not re-read


def test_a_version_already_validated_is_neither_checked_nor_read_again(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    version = store_batch(store, "flights", "2013-04", april)
    gate_batch(store, slice_contract, version)
    assert store.reads_under(version.key) == 1

    again = gate_batch(store, slice_contract, version)

    assert again.report.passed and again.frame is None
    assert store.reads_under(version.key) == 1


def test_new_content_for_a_period_replaces_the_old_and_keeps_both(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    first = store_batch(store, "flights", "2013-04", april)
    gate_batch(store, slice_contract, first, april)
    corrected = april.head(len(april) - 5)
    second = store_batch(store, "flights", "2013-04", corrected)

    gate_batch(store, slice_contract, second, corrected)

    assert validated_version(store, slice_contract, "2013-04") == second
    assert store.exists(first.key) and store.exists(second.key)  # both versions are kept
    record = ValidatedBatch.from_json(
        store.read_bytes(layout.validated_history("flights", "2013-04", second.sha256))
    )
    assert record.replaced == first.sha256


def test_two_bad_batches_of_one_period_get_two_entries_and_nothing_else(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    bad = [april.assign(origin="XXX"), april.assign(distance=99_999)]
    entries = []
    for frame in bad:
        version = store_batch(store, "flights", "2013-04", frame)
        with pytest.raises(ContractViolation) as violation:
            gate_batch(store, slice_contract, version, frame)
        entries.append(violation.value.quarantine_uri)
        assert not store.exists(version.key)  # moved, not copied
        assert not is_missing(store, slice_contract, version)  # quarantined is not "missing"

    assert len(set(entries)) == 2
    keys = store.list("")
    assert all(key.startswith("quarantine/flights/2013-04/") for key in keys)
    assert sorted(Path(key).name for key in keys) == [
        "batch.parquet",
        "batch.parquet",
        "report.json",
        "report.json",
    ]
    with pytest.raises(NoValidatedBatch, match="no validated batch of flights for 2013-04"):
        validated_version(store, slice_contract, "2013-04")


def test_a_quarantined_version_seen_again_fails_from_its_stored_report(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    frame = april.assign(origin="XXX")
    version = store_batch(store, "flights", "2013-04", frame)
    with pytest.raises(ContractViolation):
        gate_batch(store, slice_contract, version, frame)

    with pytest.raises(ContractViolation, match="origin: allowed"):
        gate_batch(store, slice_contract, version)  # e.g. a cached ingest handing back the same version

    assert len(store.list("quarantine")) == 2  # still one entry


def test_a_deleted_version_is_missing(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    version = store_batch(store, "flights", "2013-04", april)
    store.delete(version.key)
    assert is_missing(store, slice_contract, version)


def test_validated_versions_names_the_periods_without_one(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    version = store_batch(store, "flights", "2013-04", april)
    gate_batch(store, slice_contract, version, april)
    found, missing = validated_versions(store, slice_contract, ["2013-03", "2013-04", "2013-05"])
    assert (found, missing) == ([version], ["2013-03", "2013-05"])
    with pytest.raises(NoValidatedBatch):
        validated_versions(store, slice_contract, ["2013-01"])


def test_no_validated_batch_says_which_periods_broke_the_contract_and_which_were_never_ingested(
    store: ObservedStorage, slice_contract: Contract, april: pd.DataFrame
) -> None:
    """Issue 18: a window of quarantined periods was told "ingest them first", although they were."""
    frame = april.assign(origin="XXX")
    with pytest.raises(ContractViolation):
        gate_batch(store, slice_contract, store_batch(store, "flights", "2013-04", frame), frame)

    with pytest.raises(NoValidatedBatch) as none:
        validated_versions(store, slice_contract, ["2013-03", "2013-04", "2013-05"])

    assert str(none.value) == (
        "no validated batch of flights in 2013-03, 2013-04, 2013-05: 2013-04 broke the contract "
        f"(quarantined, reports under {store.uri('quarantine/flights')}); 2013-03, 2013-05 never ingested: "
        "ingest them first"
    )
