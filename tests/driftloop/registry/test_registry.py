"""The registry's guarantees, run against both a folder and a real S3 server (SeaweedFS on loopback):
versions, integrity, crashes, concurrent writers, the promotion log and its pointer."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from driftloop.core import layout
from driftloop.core.clock import now_utc
from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.settings import S3Settings, TrainingParameters
from driftloop.core.storage import LocalStorage, Storage, StoreUnavailable
from driftloop.core.storage.s3 import S3Storage
from driftloop.data.batches import DataVersion
from driftloop.modelling.drift.calibration import DriftCalibration
from driftloop.modelling.features import FeatureColumn, FeatureSpec
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.performance import HoldoutPerformance, ProbabilityCalibration
from driftloop.modelling.promotion import PromotionDecision
from driftloop.modelling.yardsticks import MonitoringYardsticks
from driftloop.registry import (
    ContractRef,
    Evaluation,
    IntegrityError,
    Lineage,
    ModelMetrics,
    ModelVersion,
    PromotionEvidence,
    Registry,
    UnknownVersion,
)
from driftloop.registry.blobs import BlobStore
from driftloop.registry.champion import ChampionPointer, PromotionLog
from driftloop.registry.check import check_registry
from driftloop.registry.records import RegistrationClaim
from tests.servers import SeaweedEndpoint

MODEL = "flights-delay"
SPEC = FeatureSpec(
    columns=(FeatureColumn(name="x1", kind="numeric"), FeatureColumn(name="x2", kind="numeric")),
    time_column="time_hour",
    timezone="America/New_York",
    contract_name="tiny",
    contract_fingerprint="0" * 64,
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    return pd.DataFrame(x, columns=["x1", "x2"]).assign(
        y=(x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(float)
    )


@pytest.fixture(scope="module")
def model_texts(data: pd.DataFrame) -> list[str]:
    """Twelve distinct real LightGBM text models: the same booster cut after 1..12 rounds."""
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 10, "verbosity": -1,
              "num_threads": 1, "deterministic": True, "seed": 1}  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(data[["x1", "x2"]], label=data["y"]), num_boost_round=12)
    texts = [booster.model_to_string(num_iteration=k) for k in range(1, 13)]
    assert len(set(texts)) == 12
    return texts


@pytest.fixture(scope="module")
def records(data: pd.DataFrame, flights_contract: Contract) -> Callable[[int], tuple[Lineage, ModelMetrics]]:
    metrics = score_predictions(data["y"].to_numpy(), np.full(len(data), 0.5))

    def make(index: int) -> tuple[Lineage, ModelMetrics]:
        version = DataVersion(dataset="tiny", period="2013-03", sha256="a" * 64, key="data/x", rows=400)
        lineage = Lineage(
            dataset="tiny", as_of=f"2013-{index + 1:02d}", periods=("2013-03",), data_versions=(version,),
            contract=ContractRef(name="tiny", version=1, fingerprint="0" * 64), code_version="test",
            feature_code_version="features-v1", feature_spec_sha256=SPEC.fingerprint,
            params=TrainingParameters(seed=1).lightgbm_params(), num_rounds=index + 1, train_rows=400,
            train_period=("2013-03-01", "2013-03-31"),
            holdout_rows=10, holdout_start="2013-03-20",
        )  # fmt: skip
        model_metrics = ModelMetrics(
            cv=metrics, folds=(), holdout=metrics.model_copy(update={"auc": 0.7 + index / 100}),
            naive=metrics, gain_importance={"x1": 1.0}, mean_abs_contribution={"x1": 0.5},
        )  # fmt: skip
        return lineage, model_metrics

    return make


@pytest.fixture(scope="module")
def s3_settings(request: pytest.FixtureRequest) -> S3Settings:
    seaweed: SeaweedEndpoint = request.getfixturevalue("seaweed")
    return S3Settings(
        endpoint_url=seaweed.endpoint_url,
        access_key_id=seaweed.access_key,
        secret_access_key=seaweed.secret_key,
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return S3Storage.from_url(
        f"s3://driftloop-registry/{uuid.uuid4().hex}", request.getfixturevalue("s3_settings")
    )


@pytest.fixture()
def registry(store: Storage) -> Registry:
    return Registry(store, MODEL)


@pytest.fixture()
def register_to(
    data: pd.DataFrame, model_texts: list[str], records: Any, flights_contract: Contract
) -> Callable[[int, Registry], ModelVersion]:
    def _register(index: int, registry: Registry) -> ModelVersion:
        lineage, metrics = records(index)
        return registry.register(
            model_text=model_texts[index], spec=SPEC, card=f"# card {index}", reference=data.head(20),
            contract=flights_contract, lineage=lineage, metrics=metrics, yardsticks=_baseline(index),
        )  # fmt: skip

    return _register


@pytest.fixture()
def register(
    registry: Registry, register_to: Callable[[int, Registry], ModelVersion]
) -> Callable[..., ModelVersion]:
    return lambda index, reg=None: register_to(index, reg or registry)


def _baseline(index: int) -> MonitoringYardsticks:
    return MonitoringYardsticks(
        drift=DriftCalibration(chunks=3, k=3.0, floor=0.02, sample_rows=100, columns=()),
        performance=HoldoutPerformance(
            holdout_auc=0.7 + index / 100,
            auc_low=0.69,
            auc_high=0.71,
            bootstrap=20,
            holdout_rows=1000,
            calibration=ProbabilityCalibration(points=(0.0, 1.0), rates=(0.0, 1.0)),
        ),
        weights={"distance": 1.0},
    )


def test_the_monitoring_baseline_is_stored_with_its_version(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    second = register(1)

    assert registry.yardsticks(second.version) == _baseline(1)


def _pointer(store: Storage) -> ChampionPointer:
    return ChampionPointer.from_json(store.read_bytes(layout.champion_pointer(MODEL)))


def _tamper(store: Storage, digest: str, data: bytes) -> None:
    store.write_bytes(layout.registry_blob(MODEL, digest), data)


# ---- versions ------------------------------------------------------------------------------------


def test_register_numbers_versions_from_one(
    registry: Registry,
    register: Callable[..., ModelVersion],
    model_texts: list[str],
    flights_contract: Contract,
) -> None:
    first, second, third = register(0), register(1), register(2)

    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert [v.version for v in registry.versions()] == [1, 2, 3]
    assert registry.get(2) == second and second.label == "v2"
    files = second.files
    stored = [files.model, files.spec, files.card, files.reference, files.contract, files.yardsticks]
    assert all(registry.storage.exists(layout.registry_blob(MODEL, digest)) for digest in stored if digest)
    assert None not in stored and len(set(stored)) == 6  # six distinct blobs, every one stored
    assert second.model_sha256 == sha256_hex(model_texts[1].encode())
    assert (second.lineage.as_of, second.metrics.holdout.auc) == ("2013-02", pytest.approx(0.71))
    assert registry.card(3) == "# card 2"
    assert registry.contract(1) == flights_contract  # stored with the model, for reproduction


def test_get_of_an_unknown_version_names_it(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    with pytest.raises(UnknownVersion, match=f"{MODEL} has no version 2 in"):
        registry.get(2)


def test_registering_identical_model_bytes_returns_the_existing_version(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    first = register(0)
    register(1)
    assert register(0) == first
    assert [v.version for v in registry.versions()] == [1, 2]


def test_load_returns_the_same_model_and_spec(
    registry: Registry, register: Callable[..., ModelVersion], model_texts: list[str], data: pd.DataFrame
) -> None:
    register(0)
    register(4)

    loaded = registry.load(2)

    assert loaded.version.version == 2 and loaded.spec == SPEC
    expected = lgb.Booster(model_str=model_texts[4]).predict(data[["x1", "x2"]])
    np.testing.assert_array_equal(loaded.booster.predict(data[["x1", "x2"]]), expected)
    assert loaded.booster.num_trees() == 5
    pd.testing.assert_frame_equal(registry.reference(2), data.head(20).reset_index(drop=True))


@pytest.mark.parametrize("logical", ["model", "spec"])
def test_load_refuses_a_tampered_blob(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage, logical: str
) -> None:
    digest = getattr(register(0).files, logical)
    original = store.read_bytes(layout.registry_blob(MODEL, digest))
    _tamper(store, digest, original.replace(b"1", b"2", 1))  # one byte flipped, still parses as text/JSON

    with pytest.raises(IntegrityError, match=digest):
        registry.load(1)


def test_card_and_reference_are_checked_too(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    version = register(0)
    _tamper(store, version.files.card, b"# a different card")
    _tamper(store, version.files.reference, b"PAR1garbage")

    with pytest.raises(IntegrityError):
        registry.card(1)
    with pytest.raises(IntegrityError):
        registry.reference(1)


def test_a_missing_blob_is_named_with_where_it_was_and_what_to_do(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    """Issue 19, finding 3: a lost blob was a bare path (the storage's not-found), saying nothing else."""
    digest = register(0).files.model
    store.delete(layout.registry_blob(MODEL, digest))

    with pytest.raises(IntegrityError) as refused:
        registry.load(1)

    assert str(refused.value) == (
        f"{store.uri(layout.registry_blob(MODEL, digest))}: blob {digest} of {MODEL} is missing: a version "
        "names it but the store no longer holds it; restore it from a backup of the store (an S3 bucket "
        "with versioning keeps replaced objects)"
    )


@pytest.mark.parametrize("garbage", [b"{not json", b'{"version": "one"}', b""])
def test_a_damaged_manifest_is_refused_naming_its_file(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage, garbage: bytes
) -> None:
    """Issue 19, finding 3: a garbage manifest was pydantic's error (exit 2, a usage error) naming no file."""
    register(0)
    key = layout.registry_version(MODEL, 1)
    store.write_bytes(key, garbage)

    for read in (lambda: registry.get(1), registry.versions):
        with pytest.raises(IntegrityError) as refused:
            read()
        message = str(refused.value)
        assert message.startswith(f"{store.uri(key)}: not a model version manifest (")
        assert message.endswith(
            "; restore it from a backup of the store (an S3 bucket with versioning keeps replaced objects)"
        )


def test_a_damaged_log_entry_or_evaluation_is_refused_naming_its_file(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    """Every record the registry reads back names its file when it does not parse, not only manifests."""
    register(0)
    registry.promote(1, "first model", _evidence(0.7), data_period="2013-03")
    entry, evaluation = layout.promotion_entry(MODEL, 1), layout.evaluation(MODEL, 1)
    store.write_bytes(entry, b"{not json")
    store.write_bytes(evaluation, b'{"version": "one"}')

    for read, key, what in (
        (registry.promotion_log, entry, "promotion log entry"),
        (lambda: registry.evaluation(1), evaluation, "model evaluation record"),
    ):
        with pytest.raises(IntegrityError) as refused:
            read()
        assert str(refused.value).startswith(f"{store.uri(key)}: not a {what} (")


# ---- crashes during register ---------------------------------------------------------------------


def test_crash_while_storing_blobs_leaves_no_version(
    registry: Registry, register: Callable[..., ModelVersion], monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    real_put = BlobStore.put
    calls = {"n": 0}

    def crashing_put(self: BlobStore, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_put(self, data)

    monkeypatch.setattr(BlobStore, "put", crashing_put)
    with pytest.raises(OSError, match="disk full"):
        register(1)
    monkeypatch.undo()

    assert [v.version for v in registry.versions()] == [1]
    assert register(1).version == 2  # the next commit takes the next number: no gap, no half version


def _writes_fail(
    store: Storage, monkeypatch: pytest.MonkeyPatch, where: str, error: Exception
) -> Callable[[str], None]:
    """Make every write of a key containing `where` raise `error`; returns a `delete` that fails too."""
    real_write = store.write_bytes

    def failing_write(key: str, data: bytes, **kwargs: Any) -> str:
        if where in key:
            raise error
        return real_write(key, data, **kwargs)

    def failing_delete(_: str) -> None:
        raise error

    monkeypatch.setattr(store, "write_bytes", failing_write)
    return failing_delete


def test_crash_on_the_manifest_write_leaves_no_version(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    _writes_fail(store, monkeypatch, "/versions/", OSError("killed"))
    with pytest.raises(OSError, match="killed"):
        register(1)
    monkeypatch.undo()

    assert [v.version for v in registry.versions()] == [1]
    assert not store.exists(layout.registry_version(MODEL, 2))
    assert register(1).version == 2


def test_concurrent_register_of_different_models_gets_distinct_consecutive_versions(
    store: Storage, register: Callable[..., ModelVersion], model_texts: list[str]
) -> None:
    start = threading.Barrier(6)

    def one(index: int) -> ModelVersion:
        start.wait()
        return register(index, Registry(store, MODEL))  # a registry object per writer, as separate processes

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(6)))

    assert sorted(version.version for version in results) == list(range(1, 7))
    committed = Registry(store, MODEL).versions()
    assert {v.model_sha256 for v in committed} == {sha256_hex(text.encode()) for text in model_texts[:6]}
    for result in results:  # each writer got back the version that holds its own model
        assert Registry(store, MODEL).get(result.version).model_sha256 == result.model_sha256


def test_concurrent_register_of_the_same_model_commits_it_once(
    store: Storage, register: Callable[..., ModelVersion]
) -> None:
    """A retried task racing its first attempt must not create a second version of identical bytes."""
    start = threading.Barrier(6)

    def one(_: int) -> ModelVersion:
        start.wait()
        return register(0, Registry(store, MODEL))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(6)))

    assert [v.version for v in Registry(store, MODEL).versions()] == [1]
    assert {result.version for result in results} == {1}


def _claim(store: Storage, index_text: str, **fields: Any) -> None:
    claim = RegistrationClaim(at=now_utc(), **fields)
    store.write_bytes(
        layout.registration_claim(MODEL, sha256_hex(index_text.encode())), claim.to_json().encode()
    )


def test_a_claim_whose_process_is_gone_is_taken_over_at_once(
    tmp_path: Path, register_to: Callable[[int, Registry], ModelVersion], model_texts: list[str]
) -> None:
    """The store went down mid-registration and the run exited: its rerun must not wait for the claim."""
    store = LocalStorage(tmp_path / "store")
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    _claim(store, model_texts[0], host=socket.gethostname(), pid=int(exited.stdout))
    started = time.monotonic()

    version = register_to(0, Registry(store, MODEL, claim_timeout_seconds=60))

    assert time.monotonic() - started < 10
    assert [v.version for v in Registry(store, MODEL).versions()] == [version.version] == [1]


def test_this_process_retries_a_registration_whose_claim_it_could_not_release(
    tmp_path: Path, register_to: Callable[[int, Registry], ModelVersion], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task retry in the same process, after an outage that also kept it from deleting its claim."""
    store = LocalStorage(tmp_path / "store")
    registry = Registry(store, MODEL, claim_timeout_seconds=60)
    down = StoreUnavailable("s3://x: cannot reach http://127.0.0.1:1")
    monkeypatch.setattr(store, "delete", _writes_fail(store, monkeypatch, "/objects/", down))
    with pytest.raises(StoreUnavailable):
        register_to(0, registry)
    monkeypatch.undo()
    assert store.list(layout.registry(MODEL, "claims"))  # left behind: the delete failed too
    started = time.monotonic()

    assert register_to(0, registry).version == 1
    assert time.monotonic() - started < 10


def test_a_live_claim_from_another_host_is_waited_for_until_the_time_limit(
    tmp_path: Path, register_to: Callable[[int, Registry], ModelVersion], model_texts: list[str]
) -> None:
    store = LocalStorage(tmp_path / "store")
    _claim(store, model_texts[0], host="another-host", pid=1)
    started = time.monotonic()

    assert register_to(0, Registry(store, MODEL, claim_timeout_seconds=1.0)).version == 1
    assert time.monotonic() - started >= 1.0


# ---- champion and the promotion log -------------------------------------------------------------


def _evidence(auc: float) -> PromotionEvidence:
    headline = score_predictions(np.array([0.0, 1.0]), np.array([0.2, 0.8])).headline()
    return PromotionEvidence(
        metric="auc", challenger=headline.model_copy(update={"auc": auc}), champion=None, naive=headline
    )


def test_no_champion_before_the_first_promotion(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    assert registry.champion() is None
    assert registry.promotion_log() == []
    assert registry.champion_at(datetime.now(UTC)) is None


def test_promote_writes_the_log_and_moves_the_champion(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    register(0)
    register(1)

    first = registry.promote(1, "first model", _evidence(0.7), data_period="2013-03")
    assert registry.champion().version == 1  # type: ignore[union-attr]
    second = registry.promote(2, "beats v1", _evidence(0.72), data_period="2013-04")

    assert registry.champion().version == 2  # type: ignore[union-attr]
    assert (first.seq, first.version, first.previous_version) == (1, 1, None)
    assert (second.seq, second.version, second.previous_version) == (2, 2, 1)
    assert registry.promotion_log() == [first, second]
    assert second.evidence.challenger.auc == 0.72 and second.data_period == "2013-04"  # type: ignore[union-attr]
    assert _pointer(store) == ChampionPointer(seq=2, version=2, at=second.at)


def test_rolling_back_to_an_older_version_is_a_promotion(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    register(1)
    registry.promote(1, "first")
    registry.promote(2, "second")

    back = registry.promote(1, "v2 misbehaves in production")

    assert (back.seq, back.version, back.previous_version) == (3, 1, 2)
    assert registry.require_champion().version == 1


def test_promoting_an_unknown_version_fails_and_logs_nothing(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    with pytest.raises(UnknownVersion, match="no version 5"):
        registry.promote(5, "typo")
    assert registry.promotion_log() == [] and registry.champion() is None


def _pause() -> None:
    """Poll the clock until it has moved a millisecond on: `at` has microsecond resolution, and two
    instants must be clearly apart (a fixed sleep is either too long or, on a loaded machine, not enough)."""
    start = datetime.now(UTC)
    deadline = time.monotonic() + 5
    while datetime.now(UTC) < start + timedelta(milliseconds=1):
        assert time.monotonic() < deadline, "the wall clock did not move for 5 s"


def test_champion_at_answers_from_the_log(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    for index in range(3):
        register(index)
    before = datetime.now(UTC)
    _pause()
    first = registry.promote(1, "first")
    _pause()
    between = datetime.now(UTC)
    _pause()
    second = registry.promote(3, "second")
    _pause()
    after = datetime.now(UTC)
    store.delete(layout.champion_pointer(MODEL))  # the log alone is the truth

    assert registry.champion_at(before) is None
    assert registry.champion_at(first.at) == 1  # effective from its own instant
    assert registry.champion_at(between) == 1
    assert registry.champion_at(between.isoformat()) == 1
    assert registry.champion_at(between.replace(tzinfo=None)) == 1  # naive means UTC
    assert registry.champion_at(pd.Timestamp(second.at) - timedelta(microseconds=1)) == 1
    assert registry.champion_at(second.at) == 3
    assert registry.champion_at(after) == 3
    assert registry.champion_at(pd.Timestamp(between).tz_convert("America/New_York")) == 1


def test_a_crash_between_log_and_pointer_is_repaired_by_the_next_read(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    register(1)
    registry.promote(1, "first")
    real_advance = PromotionLog._advance_pointer
    crashes = {"left": 1}

    def crash_once(self: PromotionLog, entry: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise OSError("killed after the log write")
        real_advance(self, entry)

    monkeypatch.setattr(PromotionLog, "_advance_pointer", crash_once)
    with pytest.raises(OSError, match="killed after the log write"):
        registry.promote(2, "second")

    assert _pointer(store).version == 1  # the pointer was left behind ...
    assert [entry.version for entry in registry.promotion_log()] == [1, 2]  # ... but the log has the change
    assert Registry(store, MODEL).require_champion().version == 2
    assert (_pointer(store).seq, _pointer(store).version) == (2, 2)  # repaired in the store
    assert registry.promote(1, "third").seq == 3  # and the log continues without a gap


@pytest.mark.parametrize(
    "damage",
    [
        b'{"seq": 9, "version": 2, "at": "2026-01-01T00:00:00Z"}',  # ahead of the log
        b'{"seq": 1, "version": 2, "at": "2026-01-01T00:00:00Z"}',  # another version than its entry
        b"{not json",  # garbage
    ],
    ids=["ahead", "wrong-version", "garbage"],
)
def test_a_damaged_pointer_gives_way_to_the_log_and_is_rewritten(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage, damage: bytes
) -> None:
    register(0)
    register(1)
    registry.promote(1, "first")
    second = registry.promote(2, "second")
    store.write_bytes(layout.champion_pointer(MODEL), damage)

    fresh = Registry(store, MODEL)  # a new reader, as a new command or a service start would be

    assert fresh.require_champion().version == 2
    assert _pointer(store) == ChampionPointer(seq=2, version=2, at=second.at)  # rewritten from the log
    assert fresh.promote(1, "third").seq == 3  # and promotions go on from the log's end


def test_concurrent_promotions_form_one_gapless_chain(
    store: Storage, register: Callable[..., ModelVersion]
) -> None:
    for index in range(6):
        register(index)
    start = threading.Barrier(8)

    def one(i: int) -> Any:
        start.wait()
        return Registry(store, MODEL).promote(1 + i % 6, f"promotion {i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        entries = list(pool.map(one, range(8)))

    log = Registry(store, MODEL).promotion_log()
    assert [entry.seq for entry in log] == list(range(1, 9))  # no gaps, no duplicates
    assert sorted(entry.seq for entry in entries) == list(range(1, 9))
    assert log[0].previous_version is None
    for earlier, later in itertools.pairwise(log):
        assert later.previous_version == earlier.version  # each saw the one before it
        assert pd.Timestamp(earlier.at) <= pd.Timestamp(later.at)
    assert _pointer(store) == ChampionPointer(seq=8, version=log[-1].version, at=log[-1].at)


# ---- evaluations and formats --------------------------------------------------------------------


def _evaluation(version: int, promote: bool, reason: str) -> Evaluation:
    metrics = score_predictions(np.array([0.0, 1.0]), np.array([0.2, 0.8]))
    decision = PromotionDecision(promote=promote, reasons=(reason,), metric="auc", challenger=metrics,
                                 naive=metrics)  # fmt: skip
    return Evaluation(version=version, at="2026-01-01T00:00:00+00:00", as_of="2013-03", champion_version=None,
                      decision=decision)  # fmt: skip


def test_the_first_evaluation_of_a_version_stands(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    register(1)
    registry.record_evaluation(_evaluation(2, False, "first"))
    registry.record_evaluation(_evaluation(2, True, "rerun"))
    registry.record_evaluation(_evaluation(1, True, "only"))

    assert [(e.version, e.decision.reasons) for e in registry.evaluations()] == [
        (1, ("only",)),
        (2, ("first",)),
    ]
    assert registry.evaluation(2).decision.promote is False  # type: ignore[union-attr]
    assert registry.evaluation(9) is None


def test_a_version_judged_again_against_a_new_champion_keeps_both_judgements(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    """A rerun after the champion moved on finds that judgement too, instead of scoring the champion again."""
    register(0)
    registry.record_evaluation(_evaluation(1, True, "first, with no champion"))
    against_5 = _evaluation(1, False, "against v5").model_copy(update={"champion_version": 5})
    registry.record_evaluation(against_5)
    registry.record_evaluation(
        against_5.model_copy(update={"decision": _evaluation(1, True, "later").decision})
    )

    assert registry.evaluation(1).decision.reasons == ("first, with no champion",)  # type: ignore[union-attr]
    assert registry.evaluation_against(1, None) == registry.evaluation(1)
    assert registry.evaluation_against(1, 5) == against_5  # the first against v5 stands too
    assert registry.evaluation_against(1, 6) is None
    assert [e.reasons for e in (ev.decision for ev in registry.evaluations())] == [
        ("first, with no champion",)
    ]


def test_models_are_lightgbm_text_and_nothing_is_pickled(
    registry: Registry, register: Callable[..., ModelVersion], store: Storage
) -> None:
    for index in range(3):
        register(index)
    registry.promote(2, "best")
    registry.record_evaluation(_evaluation(2, True, "best"))

    assert store.read_bytes(layout.registry_blob(MODEL, registry.get(1).model_sha256)).startswith(b"tree\n")
    keys = store.list("registry")
    # content-addressed: 3 models, 3 cards, 3 monitoring baselines + 1 shared spec, reference and
    # contract; then 3 manifests, 1 log entry, the pointer, 1 evaluation and 3 registration claims
    assert len(keys) == 12 + 3 + 1 + 1 + 1 + 3
    for key in keys:
        head = store.read_bytes(key)[:2]
        assert not head.startswith(b"\x80"), f"{key} looks like a pickle"
        assert head[:1] in (b"{", b"t", b"#", b"P"), f"{key}: unexpected format"


# ---- the whole registry checked (`driftloop models --check`) -----------------------------------------


def _judged(version: int, champion: int | None) -> Evaluation:
    return _evaluation(version, True, f"beats {champion}").model_copy(update={"champion_version": champion})


def test_a_registry_its_own_write_paths_made_checks_out(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    register(0)
    register(1)
    registry.record_evaluation(_judged(1, None))
    registry.promote(1, "first model", _evidence(0.7), replacing=None)
    registry.record_evaluation(_judged(2, 1))
    registry.promote(2, "beats v1", _evidence(0.72), replacing=1)
    registry.promote(1, "rolled back by hand")  # no evidence: no evaluation behind it

    found = check_registry(registry)

    assert (found.problems, found.versions, found.promotions, found.champion) == ((), 2, 3, 1)


def test_a_promotion_judged_against_another_champion_than_the_one_it_replaced_is_named(
    registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    """Issue 19, finding 1's trace: both challengers judged against v1, both promoted."""
    register(0)
    register(1)
    register(2)
    registry.record_evaluation(_judged(1, None))
    registry.promote(1, "first model", _evidence(0.7), replacing=None)
    registry.record_evaluation(_judged(2, 1))
    registry.record_evaluation(_judged(3, 1))
    registry.promote(3, "beats v1", _evidence(0.73), replacing=1)
    registry.promote(2, "beats v1", _evidence(0.72))  # without the compare-and-swap

    assert check_registry(registry).problems == ("promotion 3 (v2 over v3): no evaluation against v3",)


def test_a_pointer_the_log_does_not_back_and_a_changed_blob_are_named(
    store: Storage, registry: Registry, register: Callable[..., ModelVersion]
) -> None:
    first = register(0)
    registry.record_evaluation(_judged(1, None))
    registry.promote(1, "first model", _evidence(0.7), replacing=None)
    pointer = ChampionPointer(seq=1, version=7, at=now_utc())
    store.write_bytes(layout.champion_pointer(MODEL), pointer.to_json().encode())
    _tamper(store, first.files.card, b"# another card")

    corrupt, unbacked = check_registry(registry).problems

    assert corrupt.startswith("v1 ") and f"blob {first.files.card} of {MODEL} is corrupt" in corrupt
    assert unbacked.endswith("names v7 at log entry 1, which the log does not back")
