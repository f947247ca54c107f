"""The model registry: versions with lineage and metrics, the champion alias and its promotion log."""

from driftloop.registry.champion import ChampionChanged, RegistryConflict
from driftloop.registry.integrity import IntegrityError
from driftloop.registry.records import (
    LOCAL,
    ContractRef,
    Engine,
    Evaluation,
    Lineage,
    ModelFiles,
    ModelMetrics,
    ModelVersion,
    PromotionEntry,
    PromotionEvidence,
)
from driftloop.registry.registry import LoadedModel, NoChampion, Registry, UnknownVersion

__all__ = [
    "LOCAL",
    "ChampionChanged",
    "ContractRef",
    "Engine",
    "Evaluation",
    "IntegrityError",
    "Lineage",
    "LoadedModel",
    "ModelFiles",
    "ModelMetrics",
    "ModelVersion",
    "NoChampion",
    "PromotionEntry",
    "PromotionEvidence",
    "Registry",
    "RegistryConflict",
    "UnknownVersion",
]
