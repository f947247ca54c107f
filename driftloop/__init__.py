"""driftloop: a production ML lifecycle on Prefect.

What users import is re-exported here; everything else is internal and may change.
"""

from driftloop.batches import ContractViolation, DataVersion
from driftloop.contract import Contract, load_contract
from driftloop.features import FeatureSpec, build_features, fit_feature_spec
from driftloop.registry import IntegrityError, ModelVersion, PromotionEntry, Registry
from driftloop.settings import (
    DataSettings,
    DriftSettings,
    PromotionSettings,
    S3Settings,
    Settings,
    StorageSettings,
    TrainingSettings,
)
from driftloop.storage import LocalStorage, PreconditionFailed, Storage, open_storage
from driftloop.validation import RuleFailure, ValidationReport, validate_batch

__all__ = [
    "Contract",
    "ContractViolation",
    "DataSettings",
    "DataVersion",
    "DriftSettings",
    "FeatureSpec",
    "IntegrityError",
    "LocalStorage",
    "ModelVersion",
    "PreconditionFailed",
    "PromotionEntry",
    "PromotionSettings",
    "Registry",
    "RuleFailure",
    "S3Settings",
    "Settings",
    "Storage",
    "StorageSettings",
    "TrainingSettings",
    "ValidationReport",
    "build_features",
    "fit_feature_spec",
    "load_contract",
    "open_storage",
    "validate_batch",
]
