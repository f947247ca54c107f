"""The model registry: append-only, in the artifact store, safe under crashes and concurrent writers.

Layout under `registry/<model>/`:

- `objects/<sha256>`: immutable blobs (model text, feature spec, card, reference sample), content-addressed.
- `versions/<NNNN>.json`: a version's manifest (files and their SHA-256, lineage, metrics). It is
  written *last* and create-only, so it is the commit point: a crash before it leaves only unreferenced
  blobs, never a half-registered version; two writers racing for a number cannot both win.
- `log/<NNNNNNNN>.json`: the promotion log, one create-only entry per champion change. It is the truth
  about who was champion when.
- `champion.json`: the `champion` alias, a fast pointer to the newest log entry, moved by
  compare-and-swap. If a writer died between the log entry and the pointer, readers roll it forward.
- `evaluations/<version>.json`: every challenger's evaluation and decision, promoted or not.
- `claims/<sha256>.json`: create-only marker that one writer is registering these model bytes.

Models are stored in LightGBM's text format and JSON, never pickle, and every blob's SHA-256 is checked
when it is read back.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import pandas as pd

from driftloop.features import FeatureSpec
from driftloop.storage import ObjectNotFound, PreconditionFailed, Storage, sha256_hex

MODEL_FILE = "model.txt"
SPEC_FILE = "feature_spec.json"
CARD_FILE = "model_card.md"
REFERENCE_FILE = "reference.parquet"


class IntegrityError(Exception):
    """A stored blob does not match the SHA-256 its manifest recorded."""


class RegistryConflict(Exception):
    """Too many concurrent writers: the operation gave up after its retries."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered version as its manifest describes it."""

    model: str
    version: int
    created_at: str
    files: dict[str, str]  # logical file name -> sha256
    lineage: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def label(self) -> str:
        return f"v{self.version}"

    @property
    def model_sha256(self) -> str:
        return self.files[MODEL_FILE]


@dataclass(frozen=True)
class PromotionEntry:
    """One line of the promotion log."""

    seq: int
    version: int
    previous_version: int | None
    at: str  # UTC ISO-8601, when the change took effect
    data_month: str | None
    reason: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    booster: lgb.Booster
    spec: FeatureSpec


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, indent=2, default=str).encode()


class Registry:
    """Versions, the champion alias and the promotion log of one model name."""

    def __init__(
        self, storage: Storage, model: str, max_retries: int = 50, claim_timeout_seconds: float = 120.0
    ) -> None:
        self.storage = storage
        self.model = model
        self.max_retries = max_retries
        self.claim_timeout_seconds = claim_timeout_seconds
        self.prefix = f"registry/{model}"

    # ---- blobs -------------------------------------------------------------------------------
    def _put_blob(self, data: bytes) -> str:
        digest = sha256_hex(data)
        key = f"{self.prefix}/objects/{digest}"
        if not self.storage.exists(key):
            # a concurrent writer may store the same bytes first: content-addressed, so identical
            with contextlib.suppress(PreconditionFailed):
                self.storage.write_bytes(key, data, if_absent=True)
        return digest

    def read_blob(self, digest: str) -> bytes:
        """Read a blob and verify its SHA-256; raises `IntegrityError` on mismatch."""
        data = self.storage.read_bytes(f"{self.prefix}/objects/{digest}")
        actual = sha256_hex(data)
        if actual != digest:
            raise IntegrityError(f"blob {digest} of {self.model} is corrupt: its SHA-256 is {actual}")
        return data

    # ---- versions ----------------------------------------------------------------------------
    def _version_key(self, version: int) -> str:
        return f"{self.prefix}/versions/{version:04d}.json"

    def versions(self) -> list[ModelVersion]:
        """All committed versions, oldest first."""
        keys = [k for k in self.storage.list(f"{self.prefix}/versions/") if k.endswith(".json")]
        return [self._read_version_key(key) for key in keys]

    def _read_version_key(self, key: str) -> ModelVersion:
        return ModelVersion(**json.loads(self.storage.read_bytes(key)))

    def get(self, version: int) -> ModelVersion:
        try:
            return self._read_version_key(self._version_key(version))
        except ObjectNotFound:
            raise KeyError(f"{self.model} has no version {version}") from None

    def register(
        self,
        model_text: str,
        spec: FeatureSpec,
        card: str,
        reference: pd.DataFrame,
        lineage: dict[str, Any],
        metrics: dict[str, Any],
    ) -> ModelVersion:
        """Store a model and commit it as the next version (idempotent for an identical model).

        Args:
            model_text: LightGBM text model.
            spec: the feature spec it was trained with.
            card: the model card in Markdown.
            reference: a fixed-seed sample of training features + predictions, for drift monitoring.
            lineage: data versions, contract, code version, params.
            metrics: CV and holdout metrics.

        Returns:
            The committed version; the existing one if the same model bytes were registered before.
        """
        model_sha = sha256_hex(model_text.encode())
        existing = self._claim(model_sha)
        if existing is not None:
            return existing
        try:
            buffer = io.BytesIO()
            reference.to_parquet(buffer, index=False)
            files = {
                MODEL_FILE: self._put_blob(model_text.encode()),
                SPEC_FILE: self._put_blob(spec.to_json().encode()),
                CARD_FILE: self._put_blob(card.encode()),
                REFERENCE_FILE: self._put_blob(buffer.getvalue()),
            }
            for _ in range(self.max_retries):
                taken = [v.version for v in self.versions()]
                number = (max(taken) if taken else 0) + 1
                manifest = ModelVersion(self.model, number, _now(), files, lineage, metrics)
                try:
                    self.storage.write_bytes(
                        self._version_key(number), _dumps(manifest.__dict__), if_absent=True
                    )
                except PreconditionFailed:
                    continue  # another writer took this number first; try the next one
                return manifest
            raise RegistryConflict(f"could not commit a new version of {self.model}")
        except BaseException:
            # Release the claim so a retry need not wait for it to go stale (a hard kill still leaves it).
            self.storage.delete(f"{self.prefix}/claims/{model_sha}.json")
            raise

    def _find(self, model_sha: str) -> ModelVersion | None:
        return next((v for v in self.versions() if v.model_sha256 == model_sha), None)

    def _claim(self, model_sha: str) -> ModelVersion | None:
        """Claim the right to register these model bytes, or return the version that already holds them.

        A create-only claim per model SHA-256 makes concurrent registrations of the same model (e.g. a
        retried task racing its first attempt) commit one version. A claim older than
        `claim_timeout_seconds` whose version never appeared belongs to a writer that crashed: ignore it.
        """
        key = f"{self.prefix}/claims/{model_sha}.json"
        while True:
            existing = self._find(model_sha)
            if existing is not None:
                return existing
            try:
                self.storage.write_bytes(key, _dumps({"at": _now()}), if_absent=True)
                return None
            except PreconditionFailed:
                pass
            try:
                claimed_at = pd.Timestamp(json.loads(self.storage.read_bytes(key))["at"])
            except ObjectNotFound:
                continue
            if pd.Timestamp.now(tz="UTC") - claimed_at > pd.Timedelta(seconds=self.claim_timeout_seconds):
                return self._find(model_sha)  # stale claim of a crashed writer: register anyway
            time.sleep(0.05)

    def load(self, version: int) -> LoadedModel:
        """Load a version's booster and spec, checking both SHA-256s."""
        manifest = self.get(version)
        booster = lgb.Booster(model_str=self.read_blob(manifest.files[MODEL_FILE]).decode())
        spec = FeatureSpec.from_json(self.read_blob(manifest.files[SPEC_FILE]).decode())
        return LoadedModel(manifest, booster, spec)

    def card(self, version: int) -> str:
        return self.read_blob(self.get(version).files[CARD_FILE]).decode()

    def reference(self, version: int) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_blob(self.get(version).files[REFERENCE_FILE])))

    # ---- evaluations ---------------------------------------------------------------------------
    def record_evaluation(self, version: int, evaluation: dict[str, Any]) -> None:
        """Keep a challenger's evaluation and decision (append-only: one record per version)."""
        key = f"{self.prefix}/evaluations/{version:04d}.json"
        record = _dumps({"version": version, "at": _now(), **evaluation})
        with contextlib.suppress(PreconditionFailed):  # evaluated before (a cached rerun): the first stands
            self.storage.write_bytes(key, record, if_absent=True)

    def evaluations(self) -> list[dict[str, Any]]:
        return [
            json.loads(self.storage.read_bytes(k)) for k in self.storage.list(f"{self.prefix}/evaluations/")
        ]

    # ---- champion and promotion log ------------------------------------------------------------
    def _log_key(self, seq: int) -> str:
        return f"{self.prefix}/log/{seq:08d}.json"

    def _read_log(self, seq: int) -> PromotionEntry | None:
        try:
            return PromotionEntry(**json.loads(self.storage.read_bytes(self._log_key(seq))))
        except ObjectNotFound:
            return None

    def promotion_log(self) -> list[PromotionEntry]:
        """Every champion change, oldest first."""
        keys = self.storage.list(f"{self.prefix}/log/")
        return [PromotionEntry(**json.loads(self.storage.read_bytes(k))) for k in keys]

    def _pointer(self) -> tuple[dict[str, int] | None, str | None]:
        key = f"{self.prefix}/champion.json"
        etag = self.storage.etag(key)
        if etag is None:
            return None, None
        try:
            return json.loads(self.storage.read_bytes(key)), etag
        except ObjectNotFound:
            return None, None

    def _latest_entry(self) -> PromotionEntry | None:
        """Newest log entry, found from the pointer and rolled forward over entries it missed."""
        pointer, _ = self._pointer()
        seq = pointer["seq"] if pointer else 0
        entry = self._read_log(seq) if seq else None
        while (following := self._read_log(seq + 1)) is not None:
            entry, seq = following, seq + 1
        if entry is not None and (pointer is None or pointer["seq"] < entry.seq):
            self._advance_pointer(entry)  # repair a pointer left behind by a crash
        return entry

    def _advance_pointer(self, entry: PromotionEntry) -> None:
        """Move the alias to `entry` by compare-and-swap, only ever forward in the log."""
        key = f"{self.prefix}/champion.json"
        data = _dumps({"seq": entry.seq, "version": entry.version, "at": entry.at})
        for _ in range(self.max_retries):
            pointer, etag = self._pointer()
            if pointer is not None and pointer["seq"] >= entry.seq:
                return  # already at or past this entry
            try:
                if etag is None:
                    self.storage.write_bytes(key, data, if_absent=True)
                else:
                    self.storage.write_bytes(key, data, if_match=etag)
                return
            except PreconditionFailed:
                continue
        raise RegistryConflict(f"could not move the champion alias of {self.model}")

    def champion(self) -> ModelVersion | None:
        """The current champion version, or None before the first promotion."""
        entry = self._latest_entry()
        return self.get(entry.version) if entry else None

    def promote(
        self, version: int, reason: str, evidence: dict[str, Any] | None = None, data_month: str | None = None
    ) -> PromotionEntry:
        """Make `version` the champion: append to the log (create-only), then move the pointer (CAS).

        Args:
            version: a committed version (rolling back to an older one is a promotion too).
            reason: why, in a sentence.
            evidence: the numbers behind the decision.
            data_month: the data month the decision was made on, if any.

        Returns:
            The log entry that made it champion.
        """
        self.get(version)  # must exist
        for _ in range(self.max_retries):
            latest = self._latest_entry()
            seq = (latest.seq if latest else 0) + 1
            entry = PromotionEntry(
                seq=seq,
                version=version,
                previous_version=latest.version if latest else None,
                at=_now(),
                data_month=data_month,
                reason=reason,
                evidence=evidence or {},
            )
            try:
                self.storage.write_bytes(self._log_key(seq), _dumps(entry.__dict__), if_absent=True)
            except PreconditionFailed:
                continue  # a concurrent promotion took this slot: re-read and go again
            self._advance_pointer(entry)
            return entry
        raise RegistryConflict(f"could not promote {self.model} v{version}")

    def champion_at(self, when: datetime | str) -> int | None:
        """Which version was champion at time `when` (UTC if naive), from the promotion log."""
        moment = pd.Timestamp(when)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
        current = None
        for entry in self.promotion_log():
            if pd.Timestamp(entry.at) <= moment:
                current = entry.version
            else:
                break
        return current
