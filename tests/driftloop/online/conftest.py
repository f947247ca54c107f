"""Fixtures of the online tests: a copy of the trained store per test, the reference lookups once."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pytest

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.storage import LocalStorage
from driftloop.data.enrichment import References
from driftloop.data.sources import SourceTables
from driftloop.registry import Registry
from tests.conftest import TrainedStore

T = TypeVar("T")


@pytest.fixture(scope="session")
def reference_tables(slice_contract: Contract) -> dict[str, pd.DataFrame]:
    return SourceTables(slice_contract).references()


@pytest.fixture(scope="session")
def references(slice_contract: Contract, reference_tables: dict[str, pd.DataFrame]) -> References:
    return References(slice_contract, reference_tables)


@pytest.fixture()
def store(trained_store: TrainedStore, tmp_path: Path) -> Path:
    """A private copy of the trained store (v1, v2, no champion) that the test may change."""
    return Path(shutil.copytree(trained_store.path, tmp_path / "store"))


@pytest.fixture()
def registry(store: Path, slice_contract: Contract) -> Registry:
    return Registry(LocalStorage(store), slice_contract.model_name)


def records_of(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Batch rows as a client sends them: every declared column but the target, NaN as null."""
    out = []
    for row in frame.astype(object).to_dict("records"):
        out.append(
            {
                name: None if isinstance(row[name], float) and math.isnan(row[name]) else row[name]
                for name, spec in contract.columns.items()
                if spec.role != "target"
            }
        )
    return out


def body_of(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"records": records}).encode()


def tamper(registry: Registry, version: int) -> None:
    """Change one byte of the version's model file in place, as a bad copy or an attacker would."""
    key = layout.registry_blob(registry.model, registry.get(version).files.model)
    data = bytearray(registry.storage.read_bytes(key))
    position = data.index(b"leaf_value=") + len(b"leaf_value=")
    data[position] = ord("9") if data[position] != ord("9") else ord("8")
    registry.storage.write_bytes(key, bytes(data))


def wait_until(condition: Callable[[], T], what: str, seconds: float = 30.0, every: float = 0.05) -> T:
    """`condition`'s first truthy answer, asked every `every` s; fails naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        answer = condition()
        if answer:
            return answer
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(every)
