"""The batch gate's checks: a contract compiled to Great Expectations, run on a batch, read into a report."""

from driftloop.data.validation.report import RuleFailure, ValidationReport
from driftloop.data.validation.runner import validate_batch
from driftloop.data.validation.suite import compile_suite

__all__ = ["RuleFailure", "ValidationReport", "compile_suite", "validate_batch"]
