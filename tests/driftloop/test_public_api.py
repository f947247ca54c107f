"""What users import: the names `driftloop/__init__.py` promises, each the very object its module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import driftloop
from tests.conftest import FLIGHTS_CONTRACT

# The public surface, written out: adding or dropping a name is a decision, and this test makes it one.
PUBLIC = {
    "Contract", "ContractViolation", "DataSettings", "DataVersion", "DriftSettings", "FeatureSpec",
    "IntegrityError", "Lineage", "LocalStorage", "ModelMetrics", "ModelVersion", "PreconditionFailed",
    "PredictionService", "PromotionEntry", "PromotionSettings", "Registry", "RuleFailure", "S3Settings",
    "ServingSettings", "Settings", "Storage", "StorageSettings", "TrainingParameters", "TrainingSettings",
    "ValidationReport", "build_features", "fit_feature_spec", "load_contract", "open_storage",
    "read_logged_period", "read_prediction_log", "validate_batch",
}  # fmt: skip


def test_the_public_names_are_the_promised_ones() -> None:
    assert set(driftloop.__all__) == PUBLIC
    assert sorted(driftloop.__all__) == list(driftloop.__all__)  # listed in order, once each
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        _ = driftloop.not_a_public_name


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_name_is_the_object_its_home_module_defines(name: str) -> None:
    home = importlib.import_module(driftloop._EXPORTS[name])
    assert getattr(driftloop, name) is getattr(home, name)
    assert getattr(driftloop, name).__module__.startswith(driftloop._EXPORTS[name])


def test_a_user_reads_a_contract_and_opens_a_store_through_the_public_names(tmp_path: object) -> None:
    contract = driftloop.load_contract(FLIGHTS_CONTRACT)
    assert (contract.name, contract.time.period, contract.target.name) == ("flights", "month", "arr_delayed")
    store = driftloop.open_storage(str(tmp_path))
    assert isinstance(store, driftloop.LocalStorage)
    store.write_bytes("a/b.json", b"{}")
    assert store.read_bytes("a/b.json") == b"{}"


def test_importing_driftloop_imports_nothing_heavy() -> None:
    heavy = ("prefect", "lightgbm", "great_expectations", "evidently", "pandas")
    code = f"import sys, driftloop; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
