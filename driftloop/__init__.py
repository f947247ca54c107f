"""driftloop: a production ML lifecycle on Prefect.

What users import is re-exported here; everything else is internal and may change. Names resolve on
first use (PEP 562), so `driftloop --help` does not pay for importing LightGBM or Great Expectations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ContractViolation": "driftloop.data.gate",
    "DataVersion": "driftloop.data.batches",
    "Contract": "driftloop.core.contract",
    "load_contract": "driftloop.core.contract",
    "FeatureSpec": "driftloop.modelling.features",
    "build_features": "driftloop.modelling.features",
    "fit_feature_spec": "driftloop.modelling.features",
    "IntegrityError": "driftloop.registry",
    "ModelVersion": "driftloop.registry",
    "Lineage": "driftloop.registry",
    "ModelMetrics": "driftloop.registry",
    "PromotionEntry": "driftloop.registry",
    "Registry": "driftloop.registry",
    "PredictionService": "driftloop.online",
    "read_prediction_log": "driftloop.online",
    "read_logged_period": "driftloop.online",
    "DataSettings": "driftloop.core.settings",
    "DriftSettings": "driftloop.core.settings",
    "PromotionSettings": "driftloop.core.settings",
    "S3Settings": "driftloop.core.settings",
    "ServingSettings": "driftloop.core.settings",
    "Settings": "driftloop.core.settings",
    "StorageSettings": "driftloop.core.settings",
    "TrainingParameters": "driftloop.core.settings",
    "TrainingSettings": "driftloop.core.settings",
    "LocalStorage": "driftloop.core.storage",
    "PreconditionFailed": "driftloop.core.storage",
    "Storage": "driftloop.core.storage",
    "open_storage": "driftloop.core.storage",
    "RuleFailure": "driftloop.data.validation",
    "ValidationReport": "driftloop.data.validation",
    "validate_batch": "driftloop.data.validation",
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
    "TrainingParameters",
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
    from driftloop.core.contract import Contract, load_contract
    from driftloop.core.settings import (
        DataSettings,
        DriftSettings,
        PromotionSettings,
        S3Settings,
        ServingSettings,
        Settings,
        StorageSettings,
        TrainingParameters,
        TrainingSettings,
    )
    from driftloop.core.storage import LocalStorage, PreconditionFailed, Storage, open_storage
    from driftloop.data.batches import DataVersion
    from driftloop.data.gate import ContractViolation
    from driftloop.data.validation import RuleFailure, ValidationReport, validate_batch
    from driftloop.modelling.features import FeatureSpec, build_features, fit_feature_spec
    from driftloop.online import PredictionService, read_logged_period, read_prediction_log
    from driftloop.registry import (
        IntegrityError,
        Lineage,
        ModelMetrics,
        ModelVersion,
        PromotionEntry,
        Registry,
    )


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'driftloop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
