"""The model registry: append-only, in the artifact store, safe under crashes and concurrent writers.

A version's blobs go first; its manifest is written last and create-only, so it is the commit point: a
crash before it leaves only unreferenced blobs, never a half-registered version, and two writers racing
for a number cannot both win. Models are LightGBM text plus JSON, never pickle; every blob's SHA-256 is
checked when it is read back. The layout is in `driftloop.core.layout`.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.core import faults, layout
from driftloop.core.clock import now_utc
from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.storage import PreconditionFailed, Storage, read_if_exists
from driftloop.modelling.features import FeatureSpec
from driftloop.modelling.yardsticks import MonitoringYardsticks
from driftloop.registry import claims, records
from driftloop.registry.blobs import BlobStore
from driftloop.registry.champion import UNCHECKED, PromotionLog, Unchecked, write_next_slot
from driftloop.registry.integrity import read_record
from driftloop.registry.records import Lineage, ModelFiles, ModelMetrics, ModelVersion

if TYPE_CHECKING:  # imported where a model is loaded: `driftloop models` lists versions without LightGBM
    import lightgbm as lgb


@dataclass(frozen=True)
class LoadedModel:
    """A version's booster and feature spec, both checked against their SHA-256."""

    version: ModelVersion
    booster: lgb.Booster
    spec: FeatureSpec


class UnknownVersion(KeyError):
    """No such version of the model in this store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class NoChampion(LookupError):
    """The model has no champion yet: train one first."""


class Registry:
    """Versions, the champion alias and the promotion log of one model name."""

    def __init__(
        self, storage: Storage, model: str, max_retries: int = 50, claim_timeout_seconds: float = 120.0
    ) -> None:
        self.storage = storage
        self.model = model
        self.max_retries = max_retries
        self.claim_timeout_seconds = claim_timeout_seconds
        self.blobs = BlobStore(storage, model)
        self.log = PromotionLog(storage, model, max_retries)

    # ---- versions ----------------------------------------------------------------------------
    def versions(self) -> list[ModelVersion]:
        """All committed versions, oldest first."""
        keys = [k for k in self.storage.list(layout.registry(self.model, "versions")) if k.endswith(".json")]
        return [self._manifest(key, self.storage.read_bytes(key)) for key in keys]

    def get(self, version: int) -> ModelVersion:
        key = layout.registry_version(self.model, version)
        data = read_if_exists(self.storage, key)
        if data is None:
            raise UnknownVersion(f"{self.model} has no version {version} in {self.storage.url}")
        return self._manifest(key, data)

    def _manifest(self, key: str, data: bytes) -> ModelVersion:
        return read_record(ModelVersion, "model version manifest", self.storage, key, data)

    def _evaluation(self, key: str, data: bytes) -> records.Evaluation:
        return read_record(records.Evaluation, "model evaluation record", self.storage, key, data)

    def has(self, version: ModelVersion) -> bool:
        """True when this exact version (same number, same model bytes) is committed here."""
        try:
            return self.get(version.version).model_sha256 == version.model_sha256
        except UnknownVersion:
            return False

    def register(
        self,
        *,
        model_text: str,
        spec: FeatureSpec,
        card: str,
        reference: pd.DataFrame,
        contract: Contract,
        lineage: Lineage,
        metrics: ModelMetrics,
        yardsticks: MonitoringYardsticks,
    ) -> ModelVersion:
        """Store a model and commit it as the next version (idempotent for an identical model).

        Args:
            model_text: LightGBM text model.
            spec: the feature spec it was trained with.
            card: the model card in Markdown.
            reference: a fixed-seed sample of training features + predictions, for drift monitoring.
            contract: the data contract it was trained under (stored, for reproduction).
            lineage: data versions, contract, code and library versions, parameters.
            metrics: CV and holdout metrics.
            yardsticks: what monitoring compares a period with (drift calibration, holdout AUC interval).

        Returns:
            The committed version; the existing one if the same model bytes were registered before.
        """
        model_sha = sha256_hex(model_text.encode())
        claim = layout.registration_claim(self.model, model_sha)
        existing = claims.take(self.storage, claim, self.claim_timeout_seconds, lambda: self.find(model_sha))
        if existing is not None:
            return existing
        faults.reached("register.claimed")
        failed = True
        try:
            buffer = io.BytesIO()
            reference.to_parquet(buffer, index=False)
            files = ModelFiles(
                model=self.blobs.put(model_text.encode()),
                spec=self.blobs.put(spec.to_json().encode()),
                card=self.blobs.put(card.encode()),
                reference=self.blobs.put(buffer.getvalue()),
                contract=self.blobs.put(contract.model_dump_json(indent=2).encode()),
                yardsticks=self.blobs.put(yardsticks.to_json().encode()),
            )
            faults.reached("register.blobs-stored")

            draft = ModelVersion(
                model=self.model, version=0, created_at="", files=files, lineage=lineage, metrics=metrics
            )

            def next_version() -> tuple[str, ModelVersion]:
                taken = [v.version for v in self.versions()]
                number = (max(taken) if taken else 0) + 1
                manifest = draft.model_copy(update={"version": number, "created_at": now_utc()})
                return layout.registry_version(self.model, number), manifest

            committed = write_next_slot(
                self.storage, next_version, self.max_retries, f"commit a version of {self.model}"
            )
            faults.reached("register.committed")
            failed = False
            return committed
        finally:
            # A failed writer deletes its claim, so a retry need not wait for it to be found abandoned.
            claims.release(self.storage, claim, delete=failed)

    def newest_training(self) -> str | None:
        """The last period of the newest training window of any version (None before the first)."""
        return max((version.lineage.as_of for version in self.versions()), default=None)

    def find(self, model_sha: str) -> ModelVersion | None:
        """The version whose model file has this SHA-256, if any."""
        return next((v for v in self.versions() if v.model_sha256 == model_sha), None)

    # ---- a version's files ---------------------------------------------------------------------
    def load(self, version: int) -> LoadedModel:
        """Load a version's booster and spec, checking both SHA-256s."""
        import lightgbm as lgb

        manifest = self.get(version)
        booster = lgb.Booster(model_str=self.blobs.get(manifest.files.model).decode())
        spec = FeatureSpec.from_json(self.blobs.get(manifest.files.spec).decode())
        return LoadedModel(version=manifest, booster=booster, spec=spec)

    def card(self, version: int) -> str:
        return self.blobs.get(self.get(version).files.card).decode()

    def reference(self, version: int) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.blobs.get(self.get(version).files.reference)))

    def yardsticks(self, version: int) -> MonitoringYardsticks | None:
        """A version's monitoring yardsticks (drift calibration, holdout AUC interval); None before v0.3."""
        digest = self.get(version).files.yardsticks
        return MonitoringYardsticks.from_json(self.blobs.get(digest)) if digest else None

    def model_text(self, version: int) -> str:
        return self.blobs.get(self.get(version).files.model).decode()

    def contract(self, version: int) -> Contract | None:
        """The contract a version was trained under; None for versions registered before v0.2."""
        digest = self.get(version).files.contract
        return Contract.model_validate_json(self.blobs.get(digest)) if digest else None

    # ---- evaluations ---------------------------------------------------------------------------
    def record_evaluation(self, evaluation: records.Evaluation) -> None:
        """Keep a challenger's evaluation, create-only: the first evaluation of a version stands as its
        decision; one against another champion since is kept beside it, so that a rerun judges nothing twice.
        """
        first = self.evaluation(evaluation.version)
        if first is None:
            key = layout.evaluation(self.model, evaluation.version)
        elif first.champion_version != evaluation.champion_version:
            key = layout.rejudgement(self.model, evaluation.version, evaluation.champion_version)
        else:
            return
        with contextlib.suppress(PreconditionFailed):
            self.storage.write_bytes(key, evaluation.to_json().encode(), if_absent=True)

    def evaluation(self, version: int) -> records.Evaluation | None:
        """A version's first evaluation: its decision."""
        key = layout.evaluation(self.model, version)
        data = read_if_exists(self.storage, key)
        return self._evaluation(key, data) if data is not None else None

    def evaluation_against(self, version: int, champion: int | None) -> records.Evaluation | None:
        """A version's evaluation against `champion` (None: when there was none), if it was judged so."""
        first = self.evaluation(version)
        if first is None or first.champion_version == champion:
            return first
        key = layout.rejudgement(self.model, version, champion)
        data = read_if_exists(self.storage, key)
        return self._evaluation(key, data) if data is not None else None

    def evaluations(self) -> list[records.Evaluation]:
        """Every version's first evaluation (its decision), in version order."""
        keys = self.storage.list(layout.registry(self.model, "evaluations"))
        return [self._evaluation(key, self.storage.read_bytes(key)) for key in keys if "-against-" not in key]

    # ---- champion ------------------------------------------------------------------------------
    def champion(self) -> ModelVersion | None:
        """The current champion version, or None before the first promotion."""
        entry = self.log.latest()
        return self.get(entry.version) if entry else None

    def require_champion(self) -> ModelVersion:
        """The current champion, or a `NoChampion` error that says what to run."""
        champion = self.champion()
        if champion is None:
            raise NoChampion(
                f"{self.model} has no champion in {self.storage.url} yet: run `driftloop train` first"
            )
        return champion

    def promote(
        self,
        version: int,
        reason: str,
        evidence: records.PromotionEvidence | None = None,
        data_period: str | None = None,
        *,
        replacing: int | Unchecked | None = UNCHECKED,
    ) -> records.PromotionEntry:
        """Make `version` the champion (rolling back to an older one is a promotion too).

        Args:
            version: a committed version.
            reason: why, in a sentence.
            evidence: the numbers behind the decision.
            data_period: the data period the decision was made on, if any.
            replacing: the champion the evidence was measured against (None: there was none). The
                promotion happens only while it is still the champion (compare-and-swap on the log).

        Returns:
            The log entry that made it champion.

        Raises:
            ChampionChanged: `replacing` was given and another promotion came first.
        """
        self.get(version)  # must exist
        return self.log.append(version, reason, evidence, data_period, replacing)

    def promotion_log(self) -> list[records.PromotionEntry]:
        return self.log.entries()

    def champion_at(self, when: datetime | str) -> int | None:
        return self.log.champion_at(when)
