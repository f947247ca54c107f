"""driftloop: a production ML lifecycle on Prefect.

What users import is re-exported here; everything else is internal and may change. Names resolve on
first use (PEP 562), so `driftloop --help` does not pay for importing LightGBM or Great Expectations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ContractViolation": "driftloop.gate",
    "DataVersion": "driftloop.batches",
    "Contract": "driftloop.contract",
    "load_contract": "driftloop.contract",
    "FeatureSpec": "driftloop.features",
    "build_features": "driftloop.features",
    "fit_feature_spec": "driftloop.features",
    "IntegrityError": "driftloop.registry",
    "ModelVersion": "driftloop.registry",
    "Lineage": "driftloop.registry",
    "ModelMetrics": "driftloop.registry",
    "PromotionEntry": "driftloop.registry",
    "Registry": "driftloop.registry",
    "PredictionService": "driftloop.online",
    "read_prediction_log": "driftloop.online",
    "read_logged_period": "driftloop.online",
    "DataSettings": "driftloop.settings",
    "DriftSettings": "driftloop.settings",
    "PromotionSettings": "driftloop.settings",
    "S3Settings": "driftloop.settings",
    "ServingSettings": "driftloop.settings",
    "Settings": "driftloop.settings",
    "StorageSettings": "driftloop.settings",
    "TrainingSettings": "driftloop.settings",
    "LocalStorage": "driftloop.storage",
    "PreconditionFailed": "driftloop.storage",
    "Storage": "driftloop.storage",
    "open_storage": "driftloop.storage",
    "RuleFailure": "driftloop.validation",
    "ValidationReport": "driftloop.validation",
    "validate_batch": "driftloop.validation",
}

__all__ = [
    "Contract",
    "ContractViolation",
    "DataSettings",
    "DataVersion",
    "DriftSettings",
    "FeatureSpec",
    "IntegrityError",
    "Lineage",
    "LocalStorage",
    "ModelMetrics",
    "ModelVersion",
    "PreconditionFailed",
    "PredictionService",
    "PromotionEntry",
    "PromotionSettings",
    "Registry",
    "RuleFailure",
    "S3Settings",
    "ServingSettings",
    "Settings",
    "Storage",
    "StorageSettings",
    "TrainingSettings",
    "ValidationReport",
    "build_features",
    "fit_feature_spec",
    "load_contract",
    "open_storage",
    "read_logged_period",
    "read_prediction_log",
    "validate_batch",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from driftloop.batches import DataVersion
    from driftloop.contract import Contract, load_contract
    from driftloop.features import FeatureSpec, build_features, fit_feature_spec
    from driftloop.gate import ContractViolation
    from driftloop.online import PredictionService, read_logged_period, read_prediction_log
    from driftloop.registry import (
        IntegrityError,
        Lineage,
        ModelMetrics,
        ModelVersion,
        PromotionEntry,
        Registry,
    )
    from driftloop.settings import (
        DataSettings,
        DriftSettings,
        PromotionSettings,
        S3Settings,
        ServingSettings,
        Settings,
        StorageSettings,
        TrainingSettings,
    )
    from driftloop.storage import LocalStorage, PreconditionFailed, Storage, open_storage
    from driftloop.validation import RuleFailure, ValidationReport, validate_batch


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'driftloop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
