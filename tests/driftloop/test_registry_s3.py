"""The registry's guarantees on a real S3-compatible server (SeaweedFS on loopback), not just a folder."""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from driftloop.s3 import S3Storage

from driftloop.features import FeatureColumn, FeatureSpec
from driftloop.registry import IntegrityError, Registry
from driftloop.settings import S3Settings
from tests.servers import SeaweedEndpoint


@pytest.fixture
def s3_registry(seaweed: SeaweedEndpoint) -> Registry:
    settings = S3Settings(
        endpoint_url=seaweed.endpoint_url,
        access_key_id=seaweed.access_key,
        secret_access_key=seaweed.secret_key,
    )
    storage = S3Storage.from_url(f"s3://driftloop-registry/{uuid.uuid4().hex}", settings)
    return Registry(storage, "flights-delay")


@pytest.fixture(scope="module")
def models() -> list[str]:
    """Real LightGBM text models: one booster cut after 1..6 rounds."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] + rng.normal(scale=0.5, size=300) > 0).astype(float)
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
    }
    booster = lgb.train(params, lgb.Dataset(pd.DataFrame(x, columns=["x1", "x2"]), y), num_boost_round=6)
    return [booster.model_to_string(num_iteration=n) for n in range(1, 7)]


SPEC = FeatureSpec(
    columns=(FeatureColumn("x1", "numeric"), FeatureColumn("x2", "numeric")),
    time_column="t",
    timezone="UTC",
    contract_name="toy",
    contract_fingerprint="0" * 64,
)


def register(registry: Registry, text: str) -> int:
    reference = pd.DataFrame({"x1": [0.0], "x2": [1.0], "prediction": [0.5]})
    return registry.register(
        text, SPEC, "# card", reference, {"as_of": "2013-03"}, {"holdout": {"auc": 0.7}}
    ).version


def test_versions_and_hash_check_on_s3(s3_registry: Registry, models: list[str]) -> None:
    assert [register(s3_registry, text) for text in models[:3]] == [1, 2, 3]
    assert register(s3_registry, models[1]) == 2  # identical bytes: the existing version
    loaded = s3_registry.load(2)
    assert loaded.booster.num_trees() == 2 and loaded.spec == SPEC

    digest = s3_registry.get(3).model_sha256
    s3_registry.storage.write_bytes(f"{s3_registry.prefix}/objects/{digest}", b"tree\ncorrupted")
    with pytest.raises(IntegrityError, match=digest):
        s3_registry.load(3)


def test_concurrent_registrations_and_promotions_on_s3(s3_registry: Registry, models: list[str]) -> None:
    with ThreadPoolExecutor(6) as pool:
        numbers = sorted(pool.map(lambda text: register(s3_registry, text), models))
    assert numbers == [1, 2, 3, 4, 5, 6]

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda i: s3_registry.promote(1 + i % 6, f"promotion {i}"), range(10)))
    log = s3_registry.promotion_log()
    assert [entry.seq for entry in log] == list(range(1, 11))  # no gaps, no duplicates
    for earlier, later in itertools.pairwise(log):
        assert later.previous_version == earlier.version
    assert s3_registry.champion().version == log[-1].version
    assert s3_registry.champion_at(log[0].at) == log[0].version
