"""Training on a Dask cluster: the workers read the window's batches from the store themselves.

Chosen by one setting, `DRIFTLOOP_DASK_ADDRESS`. The client never holds the window: each worker reads the
data versions it is given from the store (a folder every worker can reach, or S3), joins the reference
tables, cuts the label and the holdout, and builds the model matrix with the spec. What crosses to the
client is small: per period its row count and time span, its category levels, its holdout rows (the last
days of the window) and a fixed-seed sample of its training rows.

The steps, and how they differ from one machine (`challenger.build_candidate`):
- the feature spec: each period's category levels, united (the same levels as on one machine);
- the number of boosting rounds: the same time-ordered cross-validation with early stopping, on the
  sample (on one machine: on every training row), its folds side by side on the workers;
- the model: `lightgbm.dask` on every training row, data-parallel across the workers, for that many
  rounds;
- the holdout evaluation, the drift calibration, the reference sample and the explanations: on the
  client, from the holdout and the sample, with the same functions as on one machine.

A model trained on the cluster depends on the cluster's shape (LightGBM splits the rows by worker), so the
lineage records the engine and the shape, and `reproduce` says when a rebuild needs the same shape. Even
on the same shape the bytes can differ: Dask does not pin a period's rows to the same worker at every run,
and each LightGBM rank bins the rows it holds. The quality does not move (tests hold it within 0.01 AUC).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.settings import DaskSettings, DriftSettings, S3Settings, TrainingParameters
from driftloop.core.storage import open_storage
from driftloop.core.times import local_times
from driftloop.data.batches import DataVersion, read_batch
from driftloop.data.enrichment import enrich, labels
from driftloop.data.sources import SourceTables
from driftloop.data.windows import WindowPlan
from driftloop.modelling.features import build_features, category_levels, spec_with_levels
from driftloop.modelling.training import (
    FoldData,
    FoldOutcome,
    FoldRunner,
    TrainedModel,
    cross_validate,
    mean_abs_contributions,
    train_fold,
)
from driftloop.registry import Engine

if TYPE_CHECKING:
    from distributed import Client
    from distributed.security import Security

LABEL = "__label__"
SAMPLE_CAP = 400_000  # training rows the client holds: enough for CV, calibration and explanations


class ClusterUnreachable(ConnectionError):
    """The Dask scheduler did not answer, or refused the credentials; the message names the address."""


def security(settings: DaskSettings) -> Security | None:
    """Mutual TLS with the stack's client certificate, when its files are set."""
    if not settings.tls_cert_file:
        return None
    from distributed.security import Security

    return Security(
        tls_ca_file=settings.tls_ca_file,
        tls_client_cert=settings.tls_cert_file,
        tls_client_key=settings.tls_key_file,
        require_encryption=True,
    )


def connect(settings: DaskSettings) -> Client:
    """A client of the configured scheduler (mutual TLS when the files are set)."""
    from distributed import Client

    try:
        return Client(settings.address, security=security(settings), timeout=settings.connect_timeout_seconds)
    except (OSError, TimeoutError) as error:
        raise ClusterUnreachable(
            f"the Dask scheduler at {settings.address} did not answer ({error}): start it "
            "(`driftloop stack up` with DRIFTLOOP_STACK_DASK_WORKERS) or unset DRIFTLOOP_DASK_ADDRESS"
        ) from None


def engine_of(client: Client) -> Engine:
    """The cluster's shape as a lineage records it."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    threads = tuple(sorted(int(worker["nthreads"]) for worker in workers))
    return Engine(kind="dask", workers=len(threads), threads_per_worker=threads)


def folds_on(client: Client, engine: Engine) -> FoldRunner:
    """Run the cross-validation folds side by side on the workers, each fold with a worker's threads.

    The fold data goes to every worker once; LightGBM is told the smallest worker's thread count, so that
    no fold takes cores another fold is using.
    """
    threads = min(engine.threads_per_worker, default=1)

    def run(data: FoldData, folds: list[tuple[int, np.ndarray, np.ndarray]]) -> list[FoldOutcome]:
        on_worker = data.settings.model_copy(update={"num_threads": threads})
        fitted = FoldData(data.features, data.label, data.times, data.spec, on_worker)
        shared = client.scatter(fitted, broadcast=True)
        futures = [
            client.submit(train_fold, shared, number, train_idx, valid_idx, pure=False)
            for number, train_idx, valid_idx in folds
        ]
        return client.gather(futures)

    return run


# ---- what the workers do: read a period from the store, never from the client --------------------------
_REFERENCES: dict[str, dict[str, pd.DataFrame]] = {}  # per worker process: reference tables by contract
_REFERENCES_LOCK = threading.Lock()


def _enriched(store_url: str, contract: Contract, version: DataVersion) -> pd.DataFrame:
    """One data version read from the store, joined and labelled (column LABEL), on the worker."""
    with _REFERENCES_LOCK:
        tables = _REFERENCES.get(contract.fingerprint)
        if tables is None:
            tables = _REFERENCES[contract.fingerprint] = SourceTables(contract).references()
    s3 = S3Settings() if store_url.startswith("s3://") else None
    frame = enrich(read_batch(open_storage(store_url, s3), version), contract, tables)
    label = labels(frame, contract)
    keep = label.notna().to_numpy()
    frame = frame.loc[keep].reset_index(drop=True)
    frame[LABEL] = label[keep].to_numpy()
    return frame


def _times(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    return local_times(frame, contract.time.column, contract.time.timezone, contract.time.format)


def _stats(
    store_url: str, contract: Contract, version: DataVersion
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
    times = _times(_enriched(store_url, contract, version), contract)
    return len(times), times.min(), times.max()


@dataclass(frozen=True)
class _Cut:
    """Where the holdout starts: the last days from `cutoff` on, or the last periods `held`."""

    cutoff: pd.Timestamp | None
    held: frozenset[str]

    def holdout(self, version: DataVersion, times: pd.Series) -> np.ndarray:
        if self.cutoff is not None:
            return (times >= self.cutoff).to_numpy()
        return np.full(len(times), version.period in self.held)


def _part(
    store_url: str,
    contract: Contract,
    version: DataVersion,
    cut: _Cut,
    what: str,
    size: int = 0,
    seed: int = 0,
    spec: Any = None,
) -> pd.DataFrame:
    """One period, on the worker: its training rows' summary, its holdout rows, a sample of its training
    rows, or its training rows as the model matrix with the label."""
    frame = _enriched(store_url, contract, version)
    times = _times(frame, contract)
    holdout = cut.holdout(version, times)
    if what == "holdout":
        return frame.loc[holdout].reset_index(drop=True)
    train = frame.loc[~holdout].reset_index(drop=True)
    if what == "summary":
        trained = times[~holdout]
        return pd.DataFrame(
            {
                "rows": [len(train)],
                "positives": [float(train[LABEL].sum())],
                "first": [trained.min()],
                "last": [trained.max()],
                "levels": [category_levels(train, contract)],
            }
        )
    if what == "sample":
        picked = np.sort(
            np.random.default_rng(seed).choice(len(train), size=min(size, len(train)), replace=False)
        )
        return train.iloc[picked].reset_index(drop=True)
    features = build_features(train, spec)
    features[LABEL] = train[LABEL].to_numpy()
    return features


# ---- the client: assemble, train, and hand back what build_candidate needs -------------------------------
@dataclass(frozen=True)
class ClusterTraining:
    """A model trained on the cluster, with what the client evaluates it on."""

    trained: TrainedModel
    holdout_frame: pd.DataFrame  # enriched holdout rows, on the client
    holdout_label: np.ndarray
    holdout_start: pd.Timestamp
    sample: pd.DataFrame  # enriched training rows, fixed-seed sample, in time order
    sample_label: pd.Series
    sample_times: pd.Series
    positive_rate: float  # of every training row (the naive model predicts it)
    engine: Engine


def train_on_cluster(
    client: Client,
    store_url: str,
    contract: Contract,
    periods: list[str],
    versions: list[DataVersion],
    plan: WindowPlan,
    settings: TrainingParameters,
    drift: DriftSettings,
    progress: Callable[[str], None] = lambda message: None,
) -> ClusterTraining:
    """Train on the window's periods with the workers reading them from the store.

    Args:
        client: a client of the cluster (`connect`).
        store_url: the store every worker reads (a shared folder or S3).
        contract: the data contract.
        periods: the window's periods; versions: their validated data versions.
        plan: the holdout (last days or periods).
        settings: training parameters; drift: the sample seed.
        progress: where to say what is being done.

    Returns:
        The trained model with the holdout, the sample and the cluster's shape.
    """
    import dask.dataframe as dd
    import lightgbm as lgb

    def gathered(function: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        return client.gather(client.map(function, *args, pure=False, **kwargs))

    progress(f"reading {len(versions)} period(s) on {engine_of(client).describe()}")
    stats = gathered(_stats, [store_url] * len(versions), [contract] * len(versions), versions)
    if plan.holdout_days is not None:
        cutoff = max(latest for _, _, latest in stats).normalize() - pd.Timedelta(days=plan.holdout_days - 1)
        cut = _Cut(cutoff=cutoff, held=frozenset())
    else:
        cut = _Cut(cutoff=None, held=frozenset(periods[-(plan.holdout_periods or 1) :]))

    def parts(what: str, sizes: list[int] | None = None, seeds: list[int] | None = None) -> list[Any]:
        n = len(versions)
        columns = [[store_url] * n, [contract] * n, versions, [cut] * n, [what] * n]
        return gathered(_part, *columns, sizes or [0] * n, seeds or [0] * n)

    summary = pd.concat(parts("summary"), ignore_index=True)
    levels: dict[str, set[str]] = {}
    for found in summary["levels"]:
        for column, values in found.items():
            levels.setdefault(column, set()).update(values)
    spec = spec_with_levels(contract, levels)
    train_rows = int(summary["rows"].sum())
    holdout_frame = pd.concat(parts("holdout"), ignore_index=True)
    holdout_times = _times(holdout_frame, contract)
    # A fixed-seed sample of each period's training rows, in proportion to its size.
    sizes = [
        max(1, round(min(SAMPLE_CAP, train_rows) * rows / max(train_rows, 1))) for rows in summary["rows"]
    ]
    seeds = [drift.sample_seed + index for index in range(len(versions))]
    sample = pd.concat(parts("sample", sizes, seeds), ignore_index=True)
    sample_times = _times(sample, contract)
    order = np.argsort(sample_times.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]"), kind="stable")
    sample = sample.iloc[order].reset_index(drop=True)
    sample_times = sample_times.iloc[order].reset_index(drop=True)
    sample_label = sample.pop(LABEL)

    engine = engine_of(client).model_copy(update={"sample_seed": drift.sample_seed})
    progress(
        f"choosing the number of rounds by time-ordered CV on a {len(sample):,}-row sample, "
        f"{settings.cv_folds} folds side by side on the workers"
    )
    sample_features = build_features(sample, spec)
    chosen = cross_validate(
        sample_features, sample_label, sample_times, spec, settings, run_folds=folds_on(client, engine)
    )

    progress(f"training on {train_rows:,} rows for {chosen.num_rounds} rounds")
    matrix = dd.from_map(
        _part, [store_url] * len(versions), [contract] * len(versions), versions, [cut] * len(versions),
        ["features"] * len(versions), spec=spec,
    )  # fmt: skip
    params = settings.lightgbm_params().for_lightgbm()
    params.pop("num_threads")  # each worker trains with its own threads
    with warnings.catch_warnings():
        # "Parameter n_jobs will be ignored": on a cluster each worker trains with its own threads.
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model = lgb.DaskLGBMClassifier(n_estimators=chosen.num_rounds, **params)
        model.fit(matrix[spec.names], matrix[LABEL], categorical_feature=spec.categorical)
    booster = model.booster_
    gain = booster.feature_importance(importance_type="gain")
    total_gain = float(gain.sum()) or 1.0
    trained = TrainedModel(
        model_text=booster.model_to_string(),
        spec=spec,
        params=settings.lightgbm_params(),
        num_rounds=chosen.num_rounds,
        folds=chosen.folds,
        cv_metrics=chosen.metrics,
        gain_importance={name: float(g) / total_gain for name, g in zip(spec.names, gain, strict=True)},
        train_rows=train_rows,
        train_start=pd.Timestamp(summary["first"].min()).tz_convert("UTC").isoformat(),
        train_end=pd.Timestamp(summary["last"].max()).tz_convert("UTC").isoformat(),
        mean_contributions=mean_abs_contributions(
            booster, sample_features, settings.explain_rows, settings.seed
        ),
    )
    holdout_label = holdout_frame.pop(LABEL).to_numpy()
    return ClusterTraining(
        trained=trained,
        holdout_frame=holdout_frame,
        holdout_label=holdout_label,
        holdout_start=holdout_times.min(),
        sample=sample,
        sample_label=sample_label,
        sample_times=sample_times,
        positive_rate=float(summary["positives"].sum()) / max(train_rows, 1),
        engine=engine,
    )
