"""Monitoring a scored period: what moved, whether it matters to the model, and how the model performs.

`verdict` holds the records, `model` what monitoring needs of a model, `assess` runs the detectors and
`alarms` turns their numbers into alarms. Which alarms start a retraining is
`driftloop.lifecycle.policy`'s business.
"""

from driftloop.lifecycle.monitoring.assess import Assessment, assess, monitor_scored, realize, save_verdict
from driftloop.lifecycle.monitoring.model import MonitoredModel, candidate_model, monitored_model
from driftloop.lifecycle.monitoring.verdict import (
    Alarm,
    AttributionChange,
    ColumnCheck,
    Detector,
    DriftCheck,
    MonitoringVerdict,
    PerformanceCheck,
    ServedSummary,
)

__all__ = [
    "Alarm",
    "Assessment",
    "AttributionChange",
    "ColumnCheck",
    "Detector",
    "DriftCheck",
    "MonitoredModel",
    "MonitoringVerdict",
    "PerformanceCheck",
    "ServedSummary",
    "assess",
    "candidate_model",
    "monitor_scored",
    "monitored_model",
    "realize",
    "save_verdict",
]
