"""Record a drift event before retraining on it, find the events still waiting, record what training made."""

from __future__ import annotations

from uuid import UUID

from prefect import get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run

from driftloop.lifecycle.retrain_requests import (
    DriftEvent,
    RetrainRequest,
    Skip,
    pending_requests,
    record_outcome,
    record_request,
)
from driftloop.lifecycle.runtime import Runtime
from tasks.artifacts import artifact_key
from tasks.options import IN_MEMORY


def flow_run_ended(run_id: str) -> bool:
    """Whether Prefect has the flow run in a final state: it will not finish an event it took.

    An id this server does not know (another server's run, or not a flow run) counts as still running:
    taking its event over could train it twice.
    """
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(run_id))
    except (ValueError, ObjectNotFound):
        return False
    return run.state is not None and run.state.is_final()


@task(name="record-drift-event", task_run_name="record event {event.event_id}", **IN_MEMORY)
def record_request_task(runtime: Runtime, event: DriftEvent) -> tuple[RetrainRequest, Skip | None]:
    """Take the event for this run; a duplicate or stale one is skipped, with an artifact saying why."""
    champion = runtime.registry.champion()
    request, skip = record_request(
        runtime.storage, event, champion.version if champion else None, flow_run.get_id(), flow_run_ended
    )
    if skip is not None:
        get_run_logger().warning("Not retraining: %s", skip.message)
        create_markdown_artifact(
            key=artifact_key("retrain", event.model, request.period),
            markdown=f"## {request.period}: retrain skipped ({skip.kind})\n\n{skip.message}\n\n"
            f"Reason: {request.reason}",
            description=f"Retrain request {request.period}: skipped",
        )
    return request, skip


@task(name="pending-drift-events", **IN_MEMORY)
def pending_requests_task(runtime: Runtime) -> list[RetrainRequest]:
    """The model's drift events no retrain run has taken (they arrived while another one ran), or whose
    run ended before it finished them."""
    return pending_requests(runtime.storage, runtime.registry.model, flow_run.get_id(), flow_run_ended)


@task(name="record-retrain-outcome", **IN_MEMORY)
def record_outcome_task(
    runtime: Runtime, event_id: str, version: int, promoted: bool, reasons: tuple[str, ...]
) -> None:
    """Record what the event's training produced next to the event."""
    record_outcome(runtime.storage, runtime.registry.model, event_id, version, promoted, reasons)
