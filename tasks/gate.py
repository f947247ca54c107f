"""The gate: run the data contract on a data version; a failing batch is quarantined and stops the flow."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from driftloop.data.batches import DataVersion
from driftloop.data.gate import ContractViolation, GateResult, gate_batch
from driftloop.lifecycle.runtime import Runtime
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


@task(
    name="gate",
    task_run_name="gate {version.period}",
    **IN_MEMORY,
)
def gate_task(runtime: Runtime, version: DataVersion) -> GateResult:
    """Gate one data version (reading it once) and publish its report when it checked something."""
    key = artifact_key("gate", runtime.contract.name, version.period)
    try:
        with runtime.clock.measure("validate"):
            result = gate_batch(runtime.storage, runtime.contract, version)
    except ContractViolation as violation:
        create_markdown_artifact(
            key=key,
            markdown=f"{violation.report.to_markdown()}\n\nQuarantined at `{violation.quarantine_uri}`",
            description=f"FAILED data contract: {runtime.contract.name} {version.period}",
        )
        raise
    if result.frame is not None:  # else validated by an earlier run, whose artifact already says so
        create_markdown_artifact(
            key=key,
            markdown=result.report.to_markdown(),
            description=f"Data contract passed: {version.period}",
        )
    return result
