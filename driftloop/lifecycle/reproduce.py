"""Rebuild a registered model from its lineage and say whether the bytes match, and if not, what differs.

The same data versions (read back by their SHA-256), the same contract, the same training settings and
the same feature and training code give a byte-identical LightGBM model file: determinism is a feature
a reviewer can check, not a promise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.provenance import CODE_VERSION, library_versions
from driftloop.core.records import Record
from driftloop.core.settings import DriftSettings, TrainingParameters
from driftloop.core.storage import ObjectNotFound
from driftloop.data.batches import CorruptBatch, to_parquet_bytes
from driftloop.data.sources import SourceTables, source_fingerprint
from driftloop.data.windows import load_window, resolve_windows
from driftloop.lifecycle.challenger import fit_challenger
from driftloop.lifecycle.cluster import engine_of, train_on_cluster
from driftloop.modelling.features import FEATURE_CODE_VERSION
from driftloop.registry import LOCAL, Registry

if TYPE_CHECKING:
    from distributed import Client


class Reproduction(Record):
    """The outcome of rebuilding one version."""

    model: str
    version: int
    registered_sha256: str
    rebuilt_sha256: str | None  # None when the inputs could not be gathered
    differences: tuple[str, ...]  # what differs between then and now, whatever the outcome

    @property
    def identical(self) -> bool:
        return self.rebuilt_sha256 == self.registered_sha256


def reproduce_version(
    registry: Registry, version: int, current_contract: Contract, cluster: Client | None = None
) -> Reproduction:
    """Retrain `version` from its recorded inputs and compare the model file's SHA-256.

    Args:
        registry: the registry holding the version (its store holds the data versions).
        version: the version number.
        current_contract: used only for versions registered before the contract was stored with the
            model, and only if its fingerprint is the recorded one.
        cluster: a Dask client; a model trained on a cluster is rebuilt only on a cluster of its shape.

    Returns:
        The registered and rebuilt SHA-256 and every recorded input that differs today.
    """
    manifest = registry.get(version)
    lineage = manifest.lineage
    differences: list[str] = []

    contract = registry.contract(version)
    if contract is None:
        if current_contract.fingerprint != lineage.contract.fingerprint:
            return _failed(
                registry,
                manifest.model_sha256,
                version,
                [
                    f"contract: the model was trained under {lineage.contract.name} "
                    f"v{lineage.contract.version} ({lineage.contract.fingerprint[:12]}), which is not "
                    "stored with it and differs from the "
                    f"current one ({current_contract.fingerprint[:12]})"
                ],
            )
        contract = current_contract

    settings = lineage.training
    if settings is None:
        differences.append("training settings: not recorded (registered before v0.2); using the defaults")
        settings = TrainingParameters()
    if lineage.code_version != CODE_VERSION:
        differences.append(f"code version: {lineage.code_version} then, {CODE_VERSION} now")
    if lineage.feature_code_version != FEATURE_CODE_VERSION:
        differences.append(f"feature code: {lineage.feature_code_version} then, {FEATURE_CODE_VERSION} now")
    now = library_versions()
    for name, then in sorted((lineage.library_versions or {}).items()):
        if now.get(name) != then:
            differences.append(f"library {name}: {then} then, {now.get(name)} now")

    sources = SourceTables(contract)
    if lineage.source_fingerprint is not None and lineage.source_fingerprint != source_fingerprint(contract):
        differences.append(
            "source: its fingerprint changed (the rebuild reads only the stored data versions)"
        )
    tables = sources.references()
    for name, then in sorted((lineage.reference_tables_sha256 or {}).items()):
        current = sha256_hex(to_parquet_bytes(tables[name])) if name in tables else None
        if current != then:
            differences.append(f"reference table {name}: content changed since training")

    engine = lineage.engine
    if engine.kind == "dask":
        here = engine_of(cluster) if cluster is not None else LOCAL
        if not engine.same_shape(here):
            return _failed(
                registry,
                manifest.model_sha256,
                version,
                [
                    *differences,
                    f"engine: trained on {engine.describe()}; a rebuild needs a cluster of that shape "
                    f"(DRIFTLOOP_DASK_ADDRESS), and here is {here.describe()}",
                ],
            )
        drift = DriftSettings(sample_seed=engine.sample_seed if engine.sample_seed is not None else 7)
        plan = resolve_windows(contract, settings)
        training = train_on_cluster(
            cluster, registry.storage.url, contract, list(lineage.periods), list(lineage.data_versions),
            plan, settings, drift,
        )  # fmt: skip
        rebuilt = sha256_hex(training.trained.model_text.encode())
        if rebuilt != manifest.model_sha256:
            differences.append(
                f"engine: rebuilt on {here.describe()}, as trained; LightGBM on Dask does not pin rows to "
                "workers, so the bytes can differ run to run (compare the holdout AUC instead)"
            )
        return Reproduction(
            model=registry.model,
            version=version,
            registered_sha256=manifest.model_sha256,
            rebuilt_sha256=rebuilt,
            differences=tuple(differences),
        )

    try:  # every data version must still be there and still hash to its name
        window = load_window(
            registry.storage,
            contract,
            list(lineage.periods),
            list(lineage.data_versions),
            tables,
            resolve_windows(contract, settings),
        )
    except (ObjectNotFound, CorruptBatch) as error:
        return _failed(registry, manifest.model_sha256, version, [*differences, f"data: {error}"])
    trained, _ = fit_challenger(window, contract, settings)
    return Reproduction(
        model=registry.model,
        version=version,
        registered_sha256=manifest.model_sha256,
        rebuilt_sha256=sha256_hex(trained.model_text.encode()),
        differences=tuple(differences),
    )


def _failed(registry: Registry, registered: str, version: int, differences: list[str]) -> Reproduction:
    return Reproduction(
        model=registry.model,
        version=version,
        registered_sha256=registered,
        rebuilt_sha256=None,
        differences=tuple(differences),
    )
