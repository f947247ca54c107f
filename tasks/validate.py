"""The gate: run the data contract on a data version; a failing batch is quarantined and stops the flow."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from driftloop.batches import ContractViolation, DataVersion, gate_batch
from driftloop.runtime import Runtime
from driftloop.validation import ValidationReport


def _not_a_violation(_task: object, _run: object, state: object) -> bool:
    """Retry I/O failures, never a broken contract: the same bytes would break it again."""
    try:
        state.result()  # type: ignore[attr-defined]
    except ContractViolation:
        return False
    except Exception:
        return True
    return False


@task(
    name="validate-batch",
    task_run_name="validate {version.month}",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=_not_a_violation,
)
def validate_batch_task(runtime: Runtime, version: DataVersion) -> ValidationReport:
    """Gate one data version and publish its report as an artifact, pass or fail."""
    key = f"validation-{runtime.contract.name}-{version.month}".lower()
    try:
        report = gate_batch(runtime.storage, runtime.contract, version)
    except ContractViolation as violation:
        create_markdown_artifact(
            key=key,
            markdown=f"{violation.report.to_markdown()}\n\nQuarantined at `{violation.quarantine_key}`",
            description=f"FAILED data contract: {runtime.contract.name} {version.month}",
        )
        raise
    create_markdown_artifact(
        key=key, markdown=report.to_markdown(), description=f"Data contract passed: {version.month}"
    )
    return report
