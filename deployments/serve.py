"""Serve driftloop on a Prefect server: the monthly schedule and the drift-triggered retrain automation.

Run it next to a real server (the UI is then at http://127.0.0.1:4200):

    prefect server start
    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

The served process reads every `DRIFTLOOP_*` variable of its own environment at each run (no settings
object is stored in a deployment), so the store, contract and training parameters are set where it runs.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deployments.environment import prefect_environment
from driftloop.settings import Settings
from flows.monitor import monitor_flow
from flows.retrain import retrain_flow
from tasks.monitor import DRIFT_EVENT

# The 2nd of each month at 06:00: the previous month is complete and its last day's flights are in.
MONTHLY_CRON = "0 6 2 * *"
TAGS = ["driftloop"]
# Any driftloop model's drift event; the retrain run trains the model named in its own settings.
DRIFT_RESOURCE = "driftloop.model.*"
# Jinja, rendered by the server from the triggering event; `reasons` is a list, a flow parameter a string.
PERIOD_FROM_EVENT = "{{ event.payload.period }}"
REASON_FROM_EVENT = "{{ event.payload.reasons | join('; ') }}"


class DeploymentSettings(BaseSettings):
    """When the served deployments run."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_DEPLOY_", frozen=True)

    monthly_cron: str = Field(
        default=MONTHLY_CRON, description="cron of the monthly ingest/score/monitor run"
    )
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in")


def build_deployments(settings: DeploymentSettings | None = None) -> list[RunnerDeployment]:
    """The two deployments a production server runs.

    Args:
        settings: the schedule; read from `DRIFTLOOP_DEPLOY_*` when omitted.

    Returns:
        `monthly` (on the cron schedule) and `retrain` (started by `driftloop.drift.detected`, with
        `month` and `reason` taken from the event's payload).
    """
    settings = settings or DeploymentSettings()
    monthly = monitor_flow.to_deployment(
        name="monthly",
        schedules=[Cron(settings.monthly_cron, timezone=settings.timezone)],
        description="Ingest, gate, score and monitor last month; drift emits the retrain event.",
        tags=TAGS,
    )
    retrain = retrain_flow.to_deployment(
        name="retrain",
        triggers=[
            DeploymentEventTrigger(
                name="retrain-on-drift",
                description="Retrain when monitoring reports drift.",
                expect={DRIFT_EVENT},
                match={"prefect.resource.id": DRIFT_RESOURCE},
                parameters={"period": PERIOD_FROM_EVENT, "reason": REASON_FROM_EVENT},
            )
        ],
        description="Retrain on the window ending at the drifted month, evaluate, promote on evidence.",
        tags=TAGS,
    )
    return [monthly, retrain]


def main() -> None:
    """Serve both deployments until interrupted.

    The CLI's environment defaults (no analytics, cached task results inside a local store) are set
    first, so the flow runs this process starts behave like `driftloop` commands on the same store.
    """
    prefect_environment(Settings.load())
    serve(*build_deployments())


if __name__ == "__main__":
    main()
