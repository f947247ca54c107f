"""The declarations in `infra/`: deployments (prefect.yaml), automations, the work pool and the bucket.

Read into typed records and checked here, so a typo is one line naming the file and field before any
server is touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments.errors import UsageError

if TYPE_CHECKING:  # Prefect is imported when an action is applied, not to read the files
    from prefect.events.actions import ChangeFlowRunState, RunDeployment

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"


class InvalidDeclaration(UsageError):
    """A file in infra/ is missing, not YAML, or breaks its schema; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CronEntry(_Strict):
    cron: str
    timezone: str = "UTC"
    active: bool = True


class ConcurrencySpec(_Strict):
    limit: int = Field(ge=1)
    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"] = "ENQUEUE"


class WorkPoolRef(_Strict):
    name: str
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class DeploymentSpec(_Strict):
    name: str
    entrypoint: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[CronEntry] = Field(default_factory=list)
    concurrency_limit: ConcurrencySpec | None = None
    enforce_parameter_schema: bool = True
    work_pool: WorkPoolRef


class PrefectProject(_Strict):
    """The subset of prefect.yaml driftloop uses; `prefect deploy` reads the same file."""

    name: str
    prefect_version: str | None = Field(default=None, alias="prefect-version")
    pull: list[dict[str, Any]] = Field(default_factory=list)
    deployments: list[DeploymentSpec]


class RunDeploymentAction(_Strict):
    type: Literal["run-deployment"]
    deployment: str  # "flow/deployment"
    parameters: dict[str, Any] = Field(default_factory=dict)

    def to_prefect(self, automation: str, deployment_ids: dict[str, UUID]) -> RunDeployment:
        """The action as Prefect's API takes it: the deployment by its id on the target server."""
        from prefect.events.actions import RunDeployment

        if self.deployment not in deployment_ids:
            raise InvalidDeclaration(
                f"automations.yaml: {automation}: deployment {self.deployment!r} is not in prefect.yaml"
            )
        return RunDeployment(
            source="selected", deployment_id=deployment_ids[self.deployment], parameters=self.parameters
        )


class ChangeFlowRunStateAction(_Strict):
    """Set the triggering flow run's state (e.g. CRASHED for a run whose heartbeats stopped)."""

    type: Literal["change-flow-run-state"]
    state: Literal["CRASHED", "FAILED", "CANCELLED"]
    message: str = ""

    def to_prefect(self, automation: str, deployment_ids: dict[str, UUID]) -> ChangeFlowRunState:
        from prefect.client.schemas.objects import StateType
        from prefect.events.actions import ChangeFlowRunState

        return ChangeFlowRunState(state=StateType(self.state), message=self.message)


class AutomationSpec(_Strict):
    name: str
    description: str = ""
    enabled: bool = True
    trigger: dict[str, Any]
    actions: list[Annotated[RunDeploymentAction | ChangeFlowRunStateAction, Field(discriminator="type")]]


class AutomationsFile(_Strict):
    automations: list[AutomationSpec]


class WorkPoolSpec(_Strict):
    name: str
    type: str
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, ge=1)
    base_job_template: str = "default"  # or a JSON file next to work-pool.yaml


class BucketSpec(_Strict):
    versioning: Literal["Enabled", "Suspended"] | None = None
    lifecycle_rules: list[dict[str, Any]] = Field(default_factory=list)


class Declarations(_Strict):
    folder: Path
    project: PrefectProject
    automations: list[AutomationSpec]
    work_pool: WorkPoolSpec
    bucket: BucketSpec

    def job_template_path(self) -> Path | None:
        ref = self.work_pool.base_job_template
        return None if ref == "default" else (self.folder / ref).resolve()


def _read(path: Path, model: type[BaseModel]) -> Any:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InvalidDeclaration(f"{path}: missing (the stack's declarations live in infra/)") from None
    except yaml.YAMLError as error:
        raise InvalidDeclaration(f"{path}: not valid YAML: {error}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InvalidDeclaration(f"{path}: {where}: {first['msg']}") from None


def load_declarations(folder: Path = INFRA_DIR) -> Declarations:
    """Every declaration file, validated; one `InvalidDeclaration` line naming the file and field if not."""
    project = _read(folder / "prefect.yaml", PrefectProject)
    pools = {d.work_pool.name for d in project.deployments}
    work_pool = _read(folder / "work-pool.yaml", WorkPoolSpec)
    if pools != {work_pool.name}:
        raise InvalidDeclaration(
            f"{folder / 'prefect.yaml'}: deployments use work pool(s) {sorted(pools)}, but work-pool.yaml "
            f"declares {work_pool.name!r}"
        )
    return Declarations(
        folder=folder,
        project=project,
        automations=_read(folder / "automations.yaml", AutomationsFile).automations,
        work_pool=work_pool,
        bucket=_read(folder / "bucket.yaml", BucketSpec),
    )
