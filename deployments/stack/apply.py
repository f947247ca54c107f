"""`driftloop stack apply`: make a Prefect API and an S3 bucket match the declarations in `infra/`.

Each object is read first and written only when it differs, so a second apply changes nothing and says
so. Works against any Prefect API (PREFECT_API_URL with PREFECT_API_AUTH_STRING or PREFECT_API_KEY) and
any S3 endpoint (DRIFTLOOP_STORAGE_URL and DRIFTLOOP_S3_*).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, NamedTuple
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.events.schemas.automations import AutomationCore, TriggerTypes
from prefect.exceptions import ObjectNotFound
from prefect.flows import load_flow_arguments_from_entrypoint
from prefect.utilities.callables import parameter_schema_from_entrypoint
from prefect.workers.process import ProcessWorker
from pydantic import TypeAdapter

from deployments.stack.declared import AutomationSpec, Declarations, DeploymentSpec, InvalidDeclaration
from driftloop.core.settings import S3Settings

Action = Literal["created", "updated", "unchanged", "not supported"]


class Change(NamedTuple):
    kind: str
    name: str
    action: Action
    detail: str = ""

    def line(self) -> str:
        return f"{self.kind} {self.name}: {self.action}" + (f" ({self.detail})" if self.detail else "")


def apply_declarations(
    declared: Declarations, storage_url: str, s3: S3Settings, report: Callable[[Change], None]
) -> list[Change]:
    """Apply the pool, deployments, automations (Prefect API) and the bucket (S3), in that order.

    Each change is reported as soon as it is made, so a failure later on leaves no doubt about what
    was already applied.
    """
    changes: list[Change] = []

    def done(change: Change) -> None:
        changes.append(change)
        report(change)

    with get_client(sync_client=True) as client:
        done(_work_pool(client, declared))
        ids: dict[str, UUID] = {}
        for spec in declared.project.deployments:
            change, ids[change.name] = _deployment(client, declared, spec)
            done(change)
        for automation in declared.automations:
            done(_automation(client, automation, ids))
    for change in _bucket(declared, storage_url, s3):
        done(change)
    return changes


# ---- work pool ---------------------------------------------------------------------------------


def _job_template(declared: Declarations) -> dict[str, Any]:
    path = declared.job_template_path()
    if path is not None:
        return json.loads(path.read_text())
    if declared.work_pool.type != "process":
        raise InvalidDeclaration(
            f"work-pool.yaml: type {declared.work_pool.type!r} needs a base_job_template file"
        )
    return ProcessWorker.get_default_base_job_template()


def _work_pool(client: SyncPrefectClient, declared: Declarations) -> Change:
    spec = declared.work_pool
    template = _job_template(declared)
    try:
        pool = client.read_work_pool(spec.name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(
                name=spec.name,
                type=spec.type,
                description=spec.description,
                base_job_template=template,
                concurrency_limit=spec.concurrency_limit,
            )
        )
        return Change("work pool", spec.name, "created", spec.type)
    if pool.type != spec.type:
        raise InvalidDeclaration(
            f"work pool {spec.name!r} exists with type {pool.type!r}, work-pool.yaml says {spec.type!r}: "
            "delete it (`prefect work-pool delete`) or rename it in work-pool.yaml"
        )
    current = (pool.description, pool.base_job_template, pool.concurrency_limit)
    if current == (spec.description, template, spec.concurrency_limit):
        return Change("work pool", spec.name, "unchanged")
    client.update_work_pool(
        spec.name,
        WorkPoolUpdate(
            description=spec.description, base_job_template=template, concurrency_limit=spec.concurrency_limit
        ),
    )
    return Change("work pool", spec.name, "updated")


# ---- deployments -------------------------------------------------------------------------------


class DeploymentFields(NamedTuple):
    """The fields of a deployment that prefect.yaml declares, as the declaration and the server both give
    them: equal when nothing needs writing."""

    entrypoint: str | None
    description: str | None
    tags: list[str]
    parameters: dict[str, Any]
    work_pool_name: str | None
    job_variables: dict[str, Any]
    pull_steps: list[dict[str, Any]] | None
    schedules: list[tuple[str, str | None, bool]]  # cron, timezone, active
    concurrency: tuple[int, ConcurrencyLimitStrategy] | None
    parameter_openapi_schema: dict[str, Any] | None
    enforce_parameter_schema: bool
    paused: bool

    @classmethod
    def declared(cls, declared: Declarations, spec: DeploymentSpec) -> DeploymentFields:
        path, function = spec.entrypoint.split(":")
        schema = parameter_schema_from_entrypoint(f"{declared.folder.parent / path}:{function}")
        limit = spec.concurrency_limit
        return cls(
            entrypoint=spec.entrypoint,
            description=spec.description,
            tags=sorted(spec.tags),
            parameters=spec.parameters,
            work_pool_name=spec.work_pool.name,
            job_variables=spec.work_pool.job_variables,
            pull_steps=declared.project.pull,
            schedules=sorted((s.cron, s.timezone, s.active) for s in spec.schedules),
            concurrency=(limit.limit, ConcurrencyLimitStrategy(limit.collision_strategy)) if limit else None,
            parameter_openapi_schema=schema.model_dump_for_openapi(),
            enforce_parameter_schema=spec.enforce_parameter_schema,
            paused=False,
        )

    @classmethod
    def read(cls, deployment: DeploymentResponse) -> DeploymentFields:
        limit, options = deployment.global_concurrency_limit, deployment.concurrency_options
        strategy = options.collision_strategy if options else ConcurrencyLimitStrategy.ENQUEUE
        return cls(
            entrypoint=deployment.entrypoint,
            description=deployment.description,
            tags=sorted(deployment.tags),
            parameters=deployment.parameters,
            work_pool_name=deployment.work_pool_name,
            job_variables=deployment.job_variables,
            pull_steps=deployment.pull_steps,
            schedules=sorted(
                (s.schedule.cron, s.schedule.timezone, s.active)
                for s in deployment.schedules
                if isinstance(s.schedule, CronSchedule)
            ),
            concurrency=(limit.limit, strategy) if limit else None,
            parameter_openapi_schema=deployment.parameter_openapi_schema,
            enforce_parameter_schema=deployment.enforce_parameter_schema,
            paused=deployment.paused,
        )

    def differing(self, other: DeploymentFields) -> list[str]:
        """The names of the fields whose values differ."""
        return [name for name, mine, theirs in zip(self._fields, self, other, strict=True) if mine != theirs]


def _flow_name(declared: Declarations, spec: DeploymentSpec) -> str:
    path, function = spec.entrypoint.split(":")
    arguments = load_flow_arguments_from_entrypoint(f"{declared.folder.parent / path}:{function}", {"name"})
    return str(arguments.get("name") or function.replace("_", "-"))


def _deployment(
    client: SyncPrefectClient, declared: Declarations, spec: DeploymentSpec
) -> tuple[Change, UUID]:
    flow = _flow_name(declared, spec)
    full = f"{flow}/{spec.name}"
    desired = DeploymentFields.declared(declared, spec)
    try:
        existing: DeploymentResponse | None = client.read_deployment_by_name(full)
    except ObjectNotFound:
        existing = None
    differs = [] if existing is None else DeploymentFields.read(existing).differing(desired)
    if existing is not None and not differs:
        return Change("deployment", full, "unchanged"), existing.id
    concurrency = spec.concurrency_limit
    deployment_id = client.create_deployment(  # an upsert by flow and name
        flow_id=client.create_flow_from_name(flow),
        name=spec.name,
        entrypoint=spec.entrypoint,
        description=spec.description,
        tags=spec.tags,
        parameters=spec.parameters,
        work_pool_name=spec.work_pool.name,
        work_queue_name=spec.work_pool.work_queue_name,
        job_variables=spec.work_pool.job_variables,
        pull_steps=declared.project.pull,
        schedules=[
            DeploymentScheduleCreate(schedule=CronSchedule(cron=s.cron, timezone=s.timezone), active=s.active)
            for s in spec.schedules
        ],
        concurrency_limit=concurrency.limit if concurrency else None,
        concurrency_options=(
            ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy(concurrency.collision_strategy))
            if concurrency
            else None
        ),
        parameter_openapi_schema=desired.parameter_openapi_schema,
        enforce_parameter_schema=spec.enforce_parameter_schema,
        paused=False,
    )
    if existing is None:
        return Change("deployment", full, "created"), deployment_id
    return Change("deployment", full, "updated", ", ".join(differs)), deployment_id


# ---- automations -------------------------------------------------------------------------------


def _comparable(automation: AutomationCore) -> dict[str, Any]:
    """The fields `infra/` declares. Python mode keeps the trigger's sets (`expect`, `after`, `for_each`)
    as sets: JSON mode lists them in an order that depends on the process's string hashing."""
    dumped = automation.model_dump(
        mode="python", include={"name", "description", "enabled", "trigger", "actions", "actions_on_trigger"}
    )
    dumped["trigger"].pop("id", None)
    return dumped


def _desired_automation(spec: AutomationSpec, deployment_ids: dict[str, UUID]) -> AutomationCore:
    """The automation as Prefect's own model, validated: a declaration Prefect would refuse fails here."""
    return AutomationCore(
        name=spec.name,
        description=spec.description,
        enabled=spec.enabled,
        trigger=TypeAdapter(TriggerTypes).validate_python(spec.trigger),
        actions=[action.to_prefect(spec.name, deployment_ids) for action in spec.actions],
    )


def _automation(client: SyncPrefectClient, spec: AutomationSpec, deployment_ids: dict[str, UUID]) -> Change:
    desired = _desired_automation(spec, deployment_ids)
    existing = client.read_automations_by_name(spec.name)
    if not existing:
        client.create_automation(desired)
        return Change("automation", spec.name, "created")
    first, *extra = existing
    # Left by an older tool that created instead of updating: one name, one automation.
    for duplicate in extra:
        client.delete_automation(duplicate.id)
    current, wanted = _comparable(first), _comparable(desired)
    if current == wanted and not extra:
        return Change("automation", spec.name, "unchanged")
    client.update_automation(first.id, desired)
    return Change("automation", spec.name, "updated", ", ".join(_differing(current, wanted)))


def _differing(current: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of the fields that differ, so an update says what it changed."""
    names: list[str] = []
    for key in sorted(current.keys() | wanted.keys()):
        here, there = current.get(key), wanted.get(key)
        if isinstance(here, dict) and isinstance(there, dict):
            names += _differing(here, there, f"{prefix}{key}.")
        elif here != there:
            names.append(f"{prefix}{key}")
    return names


# ---- the bucket --------------------------------------------------------------------------------


def _bucket(declared: Declarations, storage_url: str, s3: S3Settings) -> list[Change]:
    if not storage_url.startswith("s3://"):
        return [Change("bucket", storage_url, "not supported", "the store is a local folder, not S3")]
    from deployments.stack.bucket import BucketConfiguration  # boto3 is imported only for an S3 store
    from driftloop.core.storage.s3 import S3Storage

    store, created = S3Storage.open_creating(storage_url, s3)
    name, bucket = store.bucket, BucketConfiguration(store)
    changes = [Change("bucket", name, "created" if created else "unchanged", store.endpoint or "AWS S3")]
    wanted = declared.bucket
    if wanted.versioning is not None:
        current = bucket.versioning()
        if current == wanted.versioning:
            changes.append(Change("bucket versioning", name, "unchanged", current))
        elif bucket.set_versioning(wanted.versioning):
            changes.append(Change("bucket versioning", name, "updated", f"{current} -> {wanted.versioning}"))
        else:
            changes.append(Change("bucket versioning", name, "not supported", "by this endpoint"))
    if wanted.lifecycle_rules:
        current_rules = bucket.lifecycle_rules()
        if current_rules == wanted.lifecycle_rules:
            changes.append(Change("bucket lifecycle", name, "unchanged"))
        elif bucket.set_lifecycle_rules(wanted.lifecycle_rules):
            changes.append(
                Change("bucket lifecycle", name, "updated", f"{len(wanted.lifecycle_rules)} rule(s)")
            )
        else:
            changes.append(Change("bucket lifecycle", name, "not supported", "by this endpoint"))
    return changes
