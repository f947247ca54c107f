"""What an outer flow run opens once and hands down: settings, store, contract, registry, source tables.

Nothing here is global: each `Runtime` owns its caches (the source tables it read, the models it loaded),
bounded and named, and they go away with it.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.core.clock import PhaseClock
from driftloop.core.contract import Contract, load_contract
from driftloop.core.hashing import canonical_sha256, sha256_hex
from driftloop.core.settings import S3Settings, Settings
from driftloop.core.storage import ObservedStorage, open_storage
from driftloop.data.batches import DataVersion, to_parquet_bytes
from driftloop.data.sources import SourceProvenance, SourceTables, source_fingerprint
from driftloop.data.windows import TrainingWindow, WindowPlan, load_window, resolve_windows
from driftloop.lifecycle.cluster import connect
from driftloop.registry import LoadedModel, Registry

if TYPE_CHECKING:
    from distributed import Client


class ModelCache:
    """The last `size` models loaded (booster, spec and reference sample), by version number."""

    def __init__(self, registry: Registry, size: int = 4) -> None:
        self.registry = registry
        self.size = size
        self._models: OrderedDict[int, tuple[LoadedModel, pd.DataFrame]] = OrderedDict()

    def _entry(self, version: int) -> tuple[LoadedModel, pd.DataFrame]:
        if version in self._models:
            self._models.move_to_end(version)
        else:
            self._models[version] = (self.registry.load(version), self.registry.reference(version))
            if len(self._models) > self.size:
                self._models.popitem(last=False)
        return self._models[version]

    def load(self, version: int) -> LoadedModel:
        return self._entry(version)[0]

    def reference(self, version: int) -> pd.DataFrame:
        return self._entry(version)[1]


class WindowCache:
    """The last training window, keyed by its data versions: built by training, reused by evaluation."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._key: tuple[str, ...] | None = None
        self._window: TrainingWindow | None = None

    def load(self, periods: list[str], versions: list[DataVersion]) -> TrainingWindow:
        key = (*periods, *(version.sha256 for version in versions))
        if self._window is None or self._key != key:
            runtime = self.runtime
            with runtime.clock.measure("load window"):
                self._window = load_window(
                    runtime.storage,
                    runtime.contract,
                    periods,
                    versions,
                    runtime.tables,
                    runtime.plan,
                    runtime.enriched,
                )
            self._key = key
        return self._window

    def remember(self, periods: list[str], versions: list[DataVersion], window: TrainingWindow) -> None:
        """Keep a window built elsewhere (a cluster's holdout rows) for the evaluation that follows."""
        self._key = (*periods, *(version.sha256 for version in versions))
        self._window = window


class Runtime:
    """Opened once per outer flow run and handed to its tasks.

    A plain class on purpose: Prefect walks dataclass and pydantic task parameters looking for
    futures, which would cost time on every task call and reach into the contract and settings.
    """

    def __init__(self, settings: Settings, storage: ObservedStorage, contract: Contract) -> None:
        self.settings = settings
        self.storage = storage
        self.contract = contract
        self.registry = Registry(storage, settings.training.model_name or contract.model_name)
        self.sources = SourceTables(contract)
        self.models = ModelCache(self.registry)
        self.windows = WindowCache(self)
        # Batches enriched in this run, by data version: a retraining reuses them instead of a re-read.
        self.enriched: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self.clock = PhaseClock()

    def __repr__(self) -> str:
        return f"Runtime(store={self.storage.url!r}, contract={self.contract.name!r})"

    def remember_enriched(self, sha256: str, frame: pd.DataFrame) -> None:
        """Keep an enriched batch for the next training window (the newest `train_periods + 1` only)."""
        self.enriched[sha256] = frame
        while len(self.enriched) > self.plan.train_periods + 1:
            self.enriched.popitem(last=False)

    @cached_property
    def plan(self) -> WindowPlan:
        """Training window and holdout, resolved once from settings, contract and period defaults."""
        return resolve_windows(self.contract, self.settings.training)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The reference tables the contract joins, read once per runtime."""
        return self.sources.references()

    @cached_property
    def cluster(self) -> Client:
        """A client of the Dask cluster `DRIFTLOOP_DASK_ADDRESS` names, opened on first use."""
        return connect(self.settings.dask)

    @cached_property
    def source(self) -> SourceProvenance:
        """The source's fingerprint and the reference tables' content hashes, for lineage and cache keys."""
        return SourceProvenance(
            source_fingerprint=source_fingerprint(self.contract),
            reference_tables_sha256={
                name: sha256_hex(to_parquet_bytes(t)) for name, t in self.tables.items()
            },
        )

    def settings_hash(self, *parts: object) -> str:
        """A short stable hash of settings parts (pydantic models or JSON values), for cache keys."""
        return canonical_sha256(
            [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in parts]
        )[:16]


def open_runtime(settings: Settings) -> Runtime:
    """Open the store (S3 credentials from `DRIFTLOOP_S3_*` when it is on S3) and parse the contract."""
    s3 = S3Settings() if settings.storage.url.startswith("s3://") else None
    storage = ObservedStorage(open_storage(settings.storage.url, s3))
    return Runtime(settings, storage, load_contract(settings.data.contract))
