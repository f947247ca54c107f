"""The registry on a folder store: versions, integrity, crashes, concurrent writers, the promotion log."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from driftloop.features import FeatureColumn, FeatureSpec
from driftloop.registry import (
    CARD_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    SPEC_FILE,
    IntegrityError,
    Registry,
)
from driftloop.storage import LocalStorage, sha256_hex

MODEL = "flights-delay"
SPEC = FeatureSpec(
    columns=(FeatureColumn("x1", "numeric"), FeatureColumn("x2", "numeric")),
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
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 10,
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 1,
    }
    booster = lgb.train(params, lgb.Dataset(data[["x1", "x2"]], label=data["y"]), num_boost_round=12)
    texts = [booster.model_to_string(num_iteration=k) for k in range(1, 13)]
    assert len(set(texts)) == 12
    return texts


@pytest.fixture()
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


@pytest.fixture()
def registry(store: LocalStorage) -> Registry:
    return Registry(store, MODEL)


@pytest.fixture()
def register(registry: Registry, data: pd.DataFrame, model_texts: list[str]) -> Callable[..., Any]:
    def _register(index: int, reg: Registry | None = None) -> Any:
        return (reg or registry).register(
            model_texts[index],
            SPEC,
            f"# card {index}",
            data.head(20),
            lineage={"train": f"data-{index}"},
            metrics={"auc": 0.7 + index / 100},
        )

    return _register


def _registry_files(store: LocalStorage) -> list[Path]:
    return sorted(path for path in (store.root / "registry").rglob("*") if path.is_file())


# ---- versions ------------------------------------------------------------------------------------


def test_register_numbers_versions_from_one(
    registry: Registry, register: Callable[..., Any], model_texts
) -> None:
    first, second, third = register(0), register(1), register(2)

    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert [v.version for v in registry.versions()] == [1, 2, 3]
    assert registry.get(2) == second
    assert second.label == "v2"
    assert set(second.files) == {MODEL_FILE, SPEC_FILE, CARD_FILE, REFERENCE_FILE}
    assert second.model_sha256 == sha256_hex(model_texts[1].encode())
    assert second.lineage == {"train": "data-1"}
    assert second.metrics == {"auc": pytest.approx(0.71)}
    assert registry.card(3) == "# card 2"


def test_get_of_an_unknown_version_is_a_key_error(registry: Registry, register: Callable[..., Any]) -> None:
    register(0)

    with pytest.raises(KeyError, match="has no version 2"):
        registry.get(2)


def test_registering_identical_model_bytes_returns_the_existing_version(
    registry: Registry, register: Callable[..., Any]
) -> None:
    first = register(0)
    register(1)

    again = register(0)

    assert again == first
    assert [v.version for v in registry.versions()] == [1, 2]


def test_load_returns_the_same_model_and_spec(
    registry: Registry, register: Callable[..., Any], model_texts: list[str], data: pd.DataFrame
) -> None:
    register(0)
    register(4)

    loaded = registry.load(2)

    assert loaded.version.version == 2
    assert loaded.spec == SPEC
    expected = lgb.Booster(model_str=model_texts[4]).predict(data[["x1", "x2"]])
    np.testing.assert_array_equal(loaded.booster.predict(data[["x1", "x2"]]), expected)
    assert loaded.booster.num_trees() == 5
    pd.testing.assert_frame_equal(registry.reference(2), data.head(20).reset_index(drop=True))


@pytest.mark.parametrize("logical", [MODEL_FILE, SPEC_FILE])
def test_load_detects_a_corrupt_blob(
    registry: Registry, register: Callable[..., Any], store: LocalStorage, logical: str
) -> None:
    version = register(0)
    blob = store.root / "registry" / MODEL / "objects" / version.files[logical]
    original = blob.read_bytes()
    blob.write_bytes(original.replace(b"1", b"2", 1))  # one byte flipped, still parses as text/JSON

    with pytest.raises(IntegrityError, match=version.files[logical]):
        registry.load(1)


def test_card_and_reference_are_checked_too(registry: Registry, register: Callable[..., Any]) -> None:
    version = register(0)
    objects = registry.storage.root / "registry" / MODEL / "objects"  # type: ignore[attr-defined]
    (objects / version.files[CARD_FILE]).write_bytes(b"# a different card")
    (objects / version.files[REFERENCE_FILE]).write_bytes(b"PAR1garbage")

    with pytest.raises(IntegrityError):
        registry.card(1)
    with pytest.raises(IntegrityError):
        registry.reference(1)


# ---- crashes during register ---------------------------------------------------------------------


def test_crash_while_storing_blobs_leaves_no_version(
    registry: Registry, register: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    real_put = Registry._put_blob
    calls = {"n": 0}

    def crashing_put(self: Registry, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_put(self, data)

    monkeypatch.setattr(Registry, "_put_blob", crashing_put)
    with pytest.raises(OSError, match="disk full"):
        register(1)
    monkeypatch.undo()

    assert [v.version for v in registry.versions()] == [1]
    assert register(1).version == 2  # the next commit takes the next number: no gap, no half version
    assert [v.version for v in registry.versions()] == [1, 2]


def test_crash_on_the_manifest_write_leaves_no_version(
    registry: Registry, register: Callable[..., Any], store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    real_write = LocalStorage.write_bytes

    def crashing_write(self: LocalStorage, key: str, data: bytes, **kwargs: Any) -> str:
        if "/versions/" in key:
            raise OSError("killed")
        return real_write(self, key, data, **kwargs)

    monkeypatch.setattr(LocalStorage, "write_bytes", crashing_write)
    with pytest.raises(OSError, match="killed"):
        register(1)
    monkeypatch.undo()

    assert [v.version for v in registry.versions()] == [1]
    assert not list((store.root / "registry" / MODEL / "versions").glob("*0002*"))
    assert register(1).version == 2


def test_concurrent_register_of_different_models_gets_distinct_consecutive_versions(
    store: LocalStorage, register: Callable[..., Any], model_texts: list[str]
) -> None:
    start = threading.Barrier(8)

    def one(index: int) -> Any:
        start.wait()
        return register(index, Registry(store, MODEL))  # a registry object per writer, as separate processes

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))

    numbers = sorted(version.version for version in results)
    assert numbers == list(range(1, 9))
    committed = Registry(store, MODEL).versions()
    assert [v.version for v in committed] == list(range(1, 9))
    assert {v.model_sha256 for v in committed} == {sha256_hex(text.encode()) for text in model_texts[:8]}
    for result in results:  # each writer got back the version that holds its own model
        assert Registry(store, MODEL).get(result.version).model_sha256 == result.model_sha256


# ---- champion and the promotion log -------------------------------------------------------------


def _pointer(store: LocalStorage) -> dict[str, Any]:
    return json.loads((store.root / "registry" / MODEL / "champion.json").read_text())


def test_no_champion_before_the_first_promotion(registry: Registry, register: Callable[..., Any]) -> None:
    register(0)

    assert registry.champion() is None
    assert registry.promotion_log() == []
    assert registry.champion_at(datetime.now(UTC)) is None


def test_promote_writes_the_log_and_moves_the_champion(
    registry: Registry, register: Callable[..., Any], store: LocalStorage
) -> None:
    register(0)
    register(1)

    first = registry.promote(1, "first model", {"auc": 0.7}, data_month="2013-03")
    assert registry.champion().version == 1  # type: ignore[union-attr]
    second = registry.promote(2, "beats v1", {"auc": 0.72}, data_month="2013-04")

    assert registry.champion().version == 2  # type: ignore[union-attr]
    assert (first.seq, first.version, first.previous_version) == (1, 1, None)
    assert (second.seq, second.version, second.previous_version) == (2, 2, 1)
    assert registry.promotion_log() == [first, second]
    assert second.evidence == {"auc": 0.72}
    assert second.data_month == "2013-04"
    assert _pointer(store) == {"seq": 2, "version": 2, "at": second.at}


def test_rolling_back_to_an_older_version_is_a_promotion(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register(0)
    register(1)
    registry.promote(1, "first")
    registry.promote(2, "second")

    back = registry.promote(1, "v2 misbehaves in production")

    assert (back.seq, back.version, back.previous_version) == (3, 1, 2)
    assert registry.champion().version == 1  # type: ignore[union-attr]


def test_promoting_an_unknown_version_fails_and_logs_nothing(
    registry: Registry, register: Callable[..., Any]
) -> None:
    register(0)

    with pytest.raises(KeyError, match="no version 5"):
        registry.promote(5, "typo")

    assert registry.promotion_log() == []
    assert registry.champion() is None


def _pause() -> None:
    time.sleep(0.005)  # `at` has microsecond resolution; keep the instants clearly apart


def test_champion_at_answers_from_the_log(
    registry: Registry, register: Callable[..., Any], store: LocalStorage
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
    (store.root / "registry" / MODEL / "champion.json").unlink()  # the log alone is the truth

    assert registry.champion_at(before) is None
    assert registry.champion_at(first.at) == 1  # effective from its own instant
    assert registry.champion_at(between) == 1
    assert registry.champion_at(between.isoformat()) == 1
    assert registry.champion_at(between.replace(tzinfo=None)) == 1  # naive means UTC
    assert registry.champion_at(pd.Timestamp(second.at) - timedelta(microseconds=1)) == 1
    assert registry.champion_at(second.at) == 3
    assert registry.champion_at(after) == 3
    # the same instant written in New York time
    assert registry.champion_at(pd.Timestamp(between).tz_convert("America/New_York")) == 1


def test_a_crash_between_log_and_pointer_is_repaired_by_the_next_read(
    registry: Registry, register: Callable[..., Any], store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(0)
    register(1)
    registry.promote(1, "first")
    real_advance = Registry._advance_pointer
    crashes = {"left": 1}

    def crash_once(self: Registry, entry: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise OSError("killed after the log write")
        real_advance(self, entry)

    monkeypatch.setattr(Registry, "_advance_pointer", crash_once)
    with pytest.raises(OSError, match="killed after the log write"):
        registry.promote(2, "second")

    assert _pointer(store)["version"] == 1  # the pointer was left behind ...
    assert [entry.version for entry in registry.promotion_log()] == [1, 2]  # ... but the log has the change

    champion = Registry(store, MODEL).champion()

    assert champion is not None and champion.version == 2
    assert _pointer(store)["seq"] == 2 and _pointer(store)["version"] == 2  # repaired on disk
    assert registry.promote(1, "third").seq == 3  # and the log continues without a gap


def test_concurrent_promotions_form_one_gapless_chain(
    store: LocalStorage, register: Callable[..., Any]
) -> None:
    for index in range(10):
        register(index)
    start = threading.Barrier(10)

    def one(version: int) -> Any:
        start.wait()
        return Registry(store, MODEL).promote(version, f"promote v{version}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        entries = list(pool.map(one, range(1, 11)))

    log = Registry(store, MODEL).promotion_log()
    assert [entry.seq for entry in log] == list(range(1, 11))
    assert sorted(entry.version for entry in log) == list(range(1, 11))  # every promotion landed once
    assert sorted(entry.seq for entry in entries) == list(range(1, 11))
    assert log[0].previous_version is None
    for earlier, later in itertools.pairwise(log):
        assert later.previous_version == earlier.version  # each saw the one before it
        assert pd.Timestamp(earlier.at) <= pd.Timestamp(later.at)
    assert _pointer(store) == {"seq": 10, "version": log[-1].version, "at": log[-1].at}
    assert Registry(store, MODEL).champion().version == log[-1].version  # type: ignore[union-attr]


# ---- evaluations --------------------------------------------------------------------------------


def test_record_evaluation_keeps_the_first_record(registry: Registry, register: Callable[..., Any]) -> None:
    register(0)
    register(1)

    registry.record_evaluation(2, {"promote": False, "reason": "first"})
    registry.record_evaluation(2, {"promote": True, "reason": "rerun"})
    registry.record_evaluation(1, {"promote": True, "reason": "only"})

    records = registry.evaluations()
    assert [(r["version"], r["reason"]) for r in records] == [(1, "only"), (2, "first")]


# ---- formats ------------------------------------------------------------------------------------


def test_models_are_lightgbm_text_and_nothing_is_pickled(
    registry: Registry, register: Callable[..., Any], store: LocalStorage
) -> None:
    for index in range(3):
        register(index)
    registry.promote(2, "best")
    registry.record_evaluation(2, {"promote": True})

    model_blob = store.root / "registry" / MODEL / "objects" / registry.get(1).model_sha256
    assert model_blob.read_bytes().startswith(b"tree\n")
    files = _registry_files(store)
    # content-addressed: 3 models + 3 cards + 1 shared spec + 1 shared reference, then 3 manifests,
    # 1 log entry, the pointer, 1 evaluation and 3 registration claims (one per model SHA-256)
    assert len(files) == 8 + 3 + 1 + 1 + 1 + 3
    for path in files:
        head = path.read_bytes()[:2]
        assert not head.startswith(b"\x80"), f"{path} looks like a pickle"
        assert head[:1] in (b"{", b"t", b"#", b"P"), f"{path}: unexpected format"
    assert not [path for path in files if path.suffix in (".pkl", ".pickle", ".joblib")]


def test_concurrent_register_of_the_same_model_commits_it_once(
    store: LocalStorage, register: Callable[..., Any]
) -> None:
    """A retried task racing its first attempt must not create a second version of identical bytes."""
    start = threading.Barrier(8)

    def one(_: int) -> Any:
        start.wait()
        return register(0, Registry(store, MODEL))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))

    assert [v.version for v in Registry(store, MODEL).versions()] == [1]
    assert {result.version for result in results} == {1}
