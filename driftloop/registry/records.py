"""What the registry stores about a model: its version manifest, lineage, metrics and promotion log.

Typed records with one JSON form each. Manifests written before v0.2 (plain dicts, `months` instead of
`periods`) still load: the old names are accepted as aliases and new fields are optional.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from driftloop.core.records import Record
from driftloop.core.settings import BoosterParams, TrainingParameters
from driftloop.data.batches import DataVersion
from driftloop.modelling.metrics import Headline, Metrics
from driftloop.modelling.promotion import PromotionDecision
from driftloop.modelling.training import FoldResult


class ModelFiles(Record):
    """A version's files, each by the SHA-256 of its blob; the manifest names them as files are named."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    model: str = Field(alias="model.txt")  # LightGBM's text format
    spec: str = Field(alias="feature_spec.json")
    card: str = Field(alias="model_card.md")
    reference: str = Field(alias="reference.parquet")  # training features + predictions, for drift
    contract: str | None = Field(default=None, alias="contract.json")  # since v0.2: the exact contract
    yardsticks: str | None = Field(default=None, alias="monitoring.json")  # since v0.3


class ContractRef(Record):
    name: str
    version: int
    fingerprint: str


class Engine(Record):
    """Where a model was trained: this process, or a Dask cluster of a given shape (a model trained on a
    cluster depends on how many workers split its rows, so a rebuild needs the same shape)."""

    kind: Literal["local", "dask"]
    workers: int = 1
    threads_per_worker: tuple[int, ...] = ()  # one entry per worker, sorted
    sample_seed: int | None = None  # on a cluster: the seed of the training sample the rounds were chosen on

    def same_shape(self, other: Engine) -> bool:
        return (self.kind, self.workers, self.threads_per_worker) == (
            other.kind,
            other.workers,
            other.threads_per_worker,
        )

    def describe(self) -> str:
        if self.kind == "local":
            return "one process"
        threads = ", ".join(str(count) for count in self.threads_per_worker)
        return f"a Dask cluster of {self.workers} worker(s) ({threads} thread(s))"


LOCAL = Engine(kind="local")


class Lineage(Record):
    """Everything a model was made from: enough to rebuild it and say why a rebuild differs."""

    dataset: str
    as_of: str
    periods: tuple[str, ...] = Field(validation_alias=AliasChoices("periods", "months"))
    data_versions: tuple[DataVersion, ...]
    missing_periods: tuple[str, ...] = Field(
        default=(), validation_alias=AliasChoices("missing_periods", "missing_months")
    )
    contract: ContractRef
    code_version: str
    feature_code_version: str
    feature_spec_sha256: str
    params: BoosterParams  # the LightGBM parameters, as passed to `lightgbm.train`
    num_rounds: int
    train_rows: int
    train_period: tuple[str, str]
    holdout_rows: int
    holdout_start: str
    # Since v0.2; None in older manifests.
    training: TrainingParameters | None = None  # how the model was trained (window, CV, LightGBM)
    source_fingerprint: str | None = None
    reference_tables_sha256: dict[str, str] | None = None
    library_versions: dict[str, str] | None = None
    engine: Engine = LOCAL  # since v0.5; models before were all trained in one process


class ModelMetrics(Record):
    """Time-ordered CV, holdout and naive-model metrics, and what the model relies on."""

    cv: Metrics
    folds: tuple[FoldResult, ...]
    holdout: Metrics
    naive: Metrics = Field(validation_alias=AliasChoices("naive", "baseline"))  # the naive model
    gain_importance: dict[str, float]
    mean_abs_contribution: dict[str, float]


class ModelVersion(Record):
    """A registered version as its manifest describes it."""

    model: str
    version: int
    created_at: str
    files: ModelFiles
    lineage: Lineage
    metrics: ModelMetrics

    @property
    def label(self) -> str:
        return f"v{self.version}"

    @property
    def model_sha256(self) -> str:
        return self.files.model


class PromotionEvidence(Record):
    """The numbers behind a promotion, on the challenger's holdout."""

    metric: str
    challenger: Headline
    champion: Headline | None
    naive: Headline = Field(validation_alias=AliasChoices("naive", "baseline"))


class PromotionEntry(Record):
    """One line of the promotion log."""

    seq: int
    version: int
    previous_version: int | None
    at: str  # UTC ISO-8601, when the change took effect
    data_period: str | None = Field(validation_alias=AliasChoices("data_period", "data_month"))
    reason: str
    evidence: PromotionEvidence | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_evidence(cls, data: object) -> object:
        """Entries before v0.2 wrote `{}` when a promotion came without evidence."""
        if isinstance(data, dict) and data.get("evidence") == {}:
            return {**data, "evidence": None}
        return data


class ChampionPointer(Record):
    """The `champion` alias: the newest log entry it has caught up with."""

    seq: int
    version: int
    at: str


class Evaluation(Record):
    """A challenger's evaluation against the champion of the moment, promoted or not."""

    version: int
    at: str
    as_of: str
    champion_version: int | None
    decision: PromotionDecision


class RegistrationClaim(Record):
    """Someone is registering a model's bytes: when, and which process (None in claims before v0.4)."""

    at: str
    host: str | None = None
    pid: int | None = None
