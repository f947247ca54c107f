"""Data and prediction drift: Evidently computes the statistics, driftloop reads and decides."""

from driftloop.modelling.drift.evidently import CATEGORICAL_METHOD, NUMERIC_METHOD, compute_drift
from driftloop.modelling.drift.fixed_rule import FixedRuleVerdict, apply_fixed_rule
from driftloop.modelling.drift.summary import ColumnDrift, DriftSummary

__all__ = [
    "CATEGORICAL_METHOD",
    "NUMERIC_METHOD",
    "ColumnDrift",
    "DriftSummary",
    "FixedRuleVerdict",
    "apply_fixed_rule",
    "compute_drift",
]
