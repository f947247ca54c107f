"""What a flow opens once at its entry: settings, store, contract, registry and reference tables."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property

import pandas as pd

from driftloop.contract import Contract, load_contract
from driftloop.data import load_source_table
from driftloop.registry import Registry
from driftloop.settings import Settings
from driftloop.storage import Storage, open_storage

_TABLE_CACHE: dict[tuple[str, str], pd.DataFrame] = {}


def _cached_table(contract: Contract, name: str | None) -> pd.DataFrame:
    """Source tables read once per process (a replay reads the same year twelve times otherwise)."""
    key = (contract.fingerprint, name or "")
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = load_source_table(contract, name)
    return _TABLE_CACHE[key]


class Runtime:
    """Opened once per flow and handed to its tasks.

    A plain class on purpose: Prefect walks dataclass and pydantic task parameters looking for
    futures, which would cost time on every task call and reach into the contract and settings.
    """

    def __init__(self, settings: Settings, storage: Storage, contract: Contract, registry: Registry) -> None:
        self.settings = settings
        self.storage = storage
        self.contract = contract
        self.registry = registry

    def __repr__(self) -> str:
        return f"Runtime(store={self.storage.url!r}, contract={self.contract.name!r})"

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {join.table: _cached_table(self.contract, join.table) for join in self.contract.joins}

    def source_table(self) -> pd.DataFrame:
        return _cached_table(self.contract, None)

    def settings_hash(self, *parts: object) -> str:
        """A short stable hash of settings parts, for cache keys."""
        text = json.dumps(
            [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in parts], sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def open_runtime(settings: Settings | None = None) -> Runtime:
    """Load settings (unless given), open the store, parse the contract and open the model's registry."""
    settings = settings or Settings.load()
    storage = open_storage(settings.storage.url)
    contract = load_contract(settings.data.contract)
    return Runtime(settings, storage, contract, Registry(storage, settings.training.model_name))
