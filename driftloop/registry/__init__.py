"""The model registry: versions with lineage and metrics, the champion alias and its promotion log."""

from driftloop.registry.blobs import IntegrityError
from driftloop.registry.champion import RegistryConflict
from driftloop.registry.records import (
    CARD_FILE,
    CONTRACT_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    SPEC_FILE,
    ContractRef,
    Evaluation,
    Lineage,
    ModelMetrics,
    ModelVersion,
    PromotionEntry,
    PromotionEvidence,
)
from driftloop.registry.registry import LoadedModel, NoChampion, Registry

__all__ = [
    "CARD_FILE",
    "CONTRACT_FILE",
    "MODEL_FILE",
    "REFERENCE_FILE",
    "SPEC_FILE",
    "ContractRef",
    "Evaluation",
    "IntegrityError",
    "Lineage",
    "LoadedModel",
    "ModelMetrics",
    "ModelVersion",
    "NoChampion",
    "PromotionEntry",
    "PromotionEvidence",
    "Registry",
    "RegistryConflict",
]
