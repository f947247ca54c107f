"""Configuration: one pydantic-settings class per concern, read from the environment.

Load them once at an entry point (a CLI command or a flow started by a deployment) and pass them down.
Nothing here has side effects: no environment variable is written, no folder made, no client opened.
Every variable is `DRIFTLOOP_<CONCERN>_<FIELD>`, e.g. `DRIFTLOOP_TRAIN_SEED=7`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftloop.core.records import Record


class StorageSettings(BaseSettings):
    """Where artifacts, data versions and the registry live."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_STORAGE_", frozen=True)

    url: str = Field(
        default=".driftloop/store",
        description="artifact store: a folder path, file://… or s3://bucket/prefix",
    )


class S3Settings(BaseSettings):
    """Credentials and endpoint for `s3://` stores; kept out of `Settings` so they never become flow
    parameters, and read only when such a store is opened."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_S3_", frozen=True)

    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint, e.g. SeaweedFS")
    region: str = Field(default="us-east-1", description="S3 region name")
    access_key_id: SecretStr | None = Field(default=None, description="access key; else boto3's chain")
    secret_access_key: SecretStr | None = Field(default=None, description="secret key; else boto3's chain")
    max_attempts: int = Field(default=5, ge=1, description="boto3 retry attempts for transient errors")


class DataSettings(BaseSettings):
    """Which data set and how much of it."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_DATA_", frozen=True)

    contract: str = Field(default="data_contracts/flights.yaml", description="path of the data contract")
    sample_fraction: float = Field(
        default=1.0, gt=0.0, le=1.0, description="fraction of each batch to keep (tests use a slice)"
    )
    sample_seed: int = Field(default=13, description="seed of the batch sample; fixed so runs repeat")


class BoosterParams(Record):
    """The parameters passed to `lightgbm.train`, as a model's lineage records them.

    Deterministic and row-wise: the same rows and parameters give a byte-identical model file.
    """

    objective: str
    metric: tuple[str, ...]
    learning_rate: float
    num_leaves: int
    min_data_in_leaf: int
    feature_fraction: float
    feature_fraction_seed: int
    lambda_l2: float
    seed: int
    deterministic: bool
    force_row_wise: bool
    num_threads: int
    verbosity: int

    def for_lightgbm(self) -> dict[str, object]:
        """The dict `lightgbm.train` takes, in this order."""
        return {**self.model_dump(), "metric": list(self.metric)}


class TrainingParameters(Record):
    """How a model is trained: LightGBM, cross-validation and the window, as a plain record.

    Every model's lineage stores one and a rebuild reads it back as written: a field an old manifest lacks
    takes the default written here, never a value from today's environment (`TrainingSettings` reads that).
    """

    model_name: str | None = Field(
        default=None, description="registry name of the model; default: the contract's `model`, else its name"
    )
    seed: int = Field(
        default=42, description="seed for LightGBM; with deterministic mode, same data -> same file"
    )
    learning_rate: float = Field(default=0.05, gt=0, description="boosting learning rate")
    num_leaves: int = Field(default=63, ge=2, description="maximum leaves per tree")
    min_data_in_leaf: int = Field(default=100, ge=1, description="minimum rows per leaf; guards overfit")
    feature_fraction: float = Field(default=0.9, gt=0, le=1, description="share of features per tree")
    lambda_l2: float = Field(default=1.0, ge=0, description="L2 regularisation")
    max_rounds: int = Field(default=600, ge=1, description="upper bound on boosting rounds")
    early_stopping_rounds: int = Field(default=30, ge=1, description="patience on each CV fold")
    cv_folds: int = Field(default=4, ge=2, description="time-ordered CV folds (expanding window)")
    num_threads: int = Field(default=2, ge=1, description="LightGBM threads")
    window_periods: int | None = Field(
        default=None, ge=1, description="periods of history a (re)training uses; default: the contract's"
    )
    holdout_periods: int | None = Field(
        default=None, ge=1, description="last periods of the window kept out for evaluation"
    )
    holdout_days: int | None = Field(
        default=None, ge=1, description="or: last days of the window kept out; default: the contract's"
    )
    calibration_bins: int = Field(default=10, ge=2, description="bins of the calibration table")
    explain_rows: int = Field(
        default=1000, ge=10, description="rows sampled for the global mean |pred_contrib| in the model card"
    )

    def parameters(self) -> TrainingParameters:
        """These values as a plain record (also from `TrainingSettings`): what a lineage stores."""
        return TrainingParameters.model_validate(self.model_dump())

    def lightgbm_params(self) -> BoosterParams:
        """Parameters passed to `lightgbm.train`; deterministic + row-wise makes runs bit-identical."""
        return BoosterParams(
            objective="binary",
            metric=("binary_logloss", "auc"),
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_data_in_leaf=self.min_data_in_leaf,
            feature_fraction=self.feature_fraction,
            feature_fraction_seed=self.seed,
            lambda_l2=self.lambda_l2,
            seed=self.seed,
            deterministic=True,
            force_row_wise=True,
            num_threads=self.num_threads,
            verbosity=-1,
        )


class TrainingSettings(BaseSettings, TrainingParameters):
    """`TrainingParameters` read from the environment (`DRIFTLOOP_TRAIN_*`), once, at an entry point."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_TRAIN_", frozen=True)


class PromotionSettings(BaseSettings):
    """The evidence a challenger needs before it replaces the champion."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_PROMOTE_", frozen=True)

    metric: str = Field(default="auc", description="primary metric, higher is better (auc) or log_loss/brier")
    min_improvement: float = Field(
        default=0.002, ge=0, description="challenger must beat the champion by at least this on the metric"
    )
    min_auc_over_baseline: float = Field(
        default=0.02, ge=0, description="challenger AUC must exceed the naive baseline's 0.5 by this"
    )
    require_live_shadow_win: bool = Field(
        default=False,
        description="a challenger that wins on its holdout is not promoted by training: it waits, "
        "registered, until `monitor --served` finds it beat the champion's AUC by min_improvement on live "
        "shadow traffic (the service scores it beside the champion with DRIFTLOOP_SERVE_SHADOW=true)",
    )
    min_shadow_rows: int = Field(
        default=500,
        ge=1,
        description="labelled served rows both champion and shadow scored, at least, before a live shadow "
        "comparison can promote",
    )


class DriftSettings(BaseSettings):
    """How monitoring measures a period: samples, calibrated and fixed drift thresholds, breakage, AUC."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_DRIFT_", frozen=True)

    sample_rows: int = Field(default=20000, ge=100, description="rows sampled per side for Evidently")
    sample_seed: int = Field(default=7, description="seed of the drift samples")
    calibration_chunks: int = Field(
        default=8, ge=3, description="consecutive chunks of the training rows scored against the rest"
    )
    calibration_k: float = Field(
        default=3.0, gt=0, description="a column drifted beyond mean + k * std of its chunk scores"
    )
    calibration_floor: float = Field(
        default=0.02, gt=0, description="smallest calibrated threshold, for columns that never move"
    )
    drift_index_threshold: float = Field(
        default=1.0, gt=0, description="drift alarm when the weighted sum of score/threshold reaches this"
    )
    # Not lower: the flights' wind_gust swings from 68% to 87% missing with the seasons.
    missing_jump: float = Field(
        default=0.25, gt=0, le=1, description="breakage: the missing share of a column rose by this much"
    )
    new_value_share: float = Field(
        default=0.2, gt=0, le=1, description="breakage: a value unseen in training holds this share"
    )
    auc_bootstrap: int = Field(default=100, ge=20, description="bootstrap resamples of the holdout AUC")
    estimate_draws: int = Field(
        default=100, ge=20, description="label draws for the estimated AUC's interval"
    )
    attribution_rows: int = Field(
        default=1000, ge=100, description="rows explained (pred_contrib) per period for attribution drift"
    )
    # Today's fixed rule, kept as the `fixed-drift` policy of the backtest (and the Evidently report's tests).
    column_threshold: float = Field(
        default=0.1,
        gt=0,
        description="fixed rule: per-column score (Wasserstein/Jensen-Shannon) above which a column drifted",
    )
    share_threshold: float = Field(
        default=0.5, gt=0, le=1, description="fixed rule: drifted when this share of features drifted"
    )
    prediction_drift_triggers: bool = Field(
        default=True, description="fixed rule: a drifted prediction distribution alone also counts"
    )
    max_auc_drop: float = Field(
        default=0.03, ge=0, description="fixed rule: drifted when live AUC falls this far below holdout AUC"
    )


class PolicySettings(BaseSettings):
    """When monitoring's alarms start a retraining."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_POLICY_", frozen=True)

    triggers: tuple[Literal["drift", "performance", "breakage", "fixed-drift", "every-period"], ...] = Field(
        default=("drift", "performance"),
        description="alarms that start a retraining (any one): drift (calibrated, attribution-weighted, or "
        "the prediction), performance (estimated or realized AUC below the holdout's interval), breakage, "
        "fixed-drift (the old fixed thresholds), every-period",
    )
    cooldown_periods: int = Field(
        default=0, ge=0, description="periods after a retraining during which alarms do not retrain again"
    )
    max_age_periods: int | None = Field(
        default=None,
        ge=0,
        description="also retrain once the model's training ended this many periods ago; default: the "
        "training window's length (a model is refreshed once a whole window of newer data exists); 0: never",
    )


class ServingSettings(BaseSettings):
    """The online prediction service (`driftloop serve`): where it listens, its limits, its prediction log."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_SERVE_", frozen=True)

    host: str = Field(
        default="127.0.0.1",
        description="address to bind; loopback by default (put a proxy with TLS in front)",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes (each loads the model)")
    poll_seconds: float = Field(
        default=5.0, gt=0, description="how often each worker checks the champion alias for a new model"
    )
    max_records: int = Field(default=10_000, ge=1, description="most records one request may carry (413)")
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="largest request body in bytes (413 beyond)"
    )
    max_arrow_rows: int = Field(
        default=50_000,
        ge=1,
        description="most rows one Arrow request (application/vnd.apache.arrow.stream) may carry, counted "
        "before any is decoded (413 beyond); JSON requests have max_records",
    )
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="longest a request body may take to arrive after its headers (408 beyond, connection "
        "closed): a stalled client cannot hold a worker's connection",
    )
    predict_threads: int = Field(
        default=1,
        ge=1,
        description="LightGBM threads per prediction; 1 keeps a busy machine's cores for the other workers",
    )
    explain_top: int = Field(default=5, ge=1, description="feature contributions returned with explain=true")
    log_predictions: bool = Field(default=True, description="append every prediction to the store's log")
    log_batch_rows: int = Field(default=20_000, ge=1, description="rows per prediction-log file, at most")
    log_flush_seconds: float = Field(default=2.0, gt=0, description="longest a prediction waits to be logged")
    log_max_pending_rows: int = Field(
        default=100_000,
        ge=1,
        description="rows held in memory while the store is slow or down; beyond, they are counted, not kept",
    )
    access_log: bool = Field(default=False, description="uvicorn's per-request access log (costs throughput)")
    shadow: bool = Field(
        default=False,
        description="also score every request with the shadow: the newest version registered after the "
        "champion and never promoted; its probabilities are logged beside the champion's, never returned",
    )


class ServingSecrets(BaseSettings):
    """The service's secret, kept out of `Settings` so it never becomes a flow parameter or an artifact."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_SERVE_", frozen=True)

    reload_token: SecretStr | None = Field(
        default=None, description="bearer token of POST /reload; unset: the endpoint is off (polling only)"
    )


class DaskSettings(BaseSettings):
    """Scale-out: a Dask cluster that runs the flows' independent work and trains with `lightgbm.dask`.

    Unset, everything runs in this process. The TLS files are paths, not secrets; the key file is read only
    by the Dask client and must be readable by this user alone.
    """

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_DASK_", frozen=True)

    address: str | None = Field(
        default=None,
        description="scheduler address (tcp://host:port, or tls://host:port with the files below); set: "
        "flows fan out per-period work to the cluster and training runs on its workers",
    )
    tls_ca_file: str | None = Field(default=None, description="CA certificate the scheduler's is signed by")
    tls_cert_file: str | None = Field(default=None, description="this client's certificate (mutual TLS)")
    tls_key_file: str | None = Field(default=None, description="this client's private key (mutual TLS)")
    connect_timeout_seconds: float = Field(
        default=30.0, gt=0, description="how long to wait for the scheduler before exit 5"
    )


class Settings(BaseModel):
    """All concerns together, loaded once at an entry point and passed down."""

    storage: StorageSettings
    data: DataSettings
    training: TrainingSettings
    promotion: PromotionSettings
    drift: DriftSettings
    policy: PolicySettings = Field(default_factory=PolicySettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)

    @classmethod
    def load(cls, *, store: str | None = None, contract: str | None = None) -> Settings:
        """Read every concern from the environment; `store` and `contract` override their variables."""
        storage = StorageSettings(url=store) if store else StorageSettings()
        data = DataSettings()
        if contract:
            data = data.model_copy(update={"contract": contract})
        return cls(
            storage=storage,
            data=data,
            training=TrainingSettings(),
            promotion=PromotionSettings(),
            drift=DriftSettings(),
            policy=PolicySettings(),
            serving=ServingSettings(),
            dask=DaskSettings(),
        )
