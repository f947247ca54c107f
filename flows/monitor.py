"""Monitor: ingest, gate, score and check the champion on a period; the policy decides on a retraining.

This is the production cadence: with no period named it processes the one that has just closed at the
run's scheduled time, in the contract's timezone and period, and its run name says which. A period the
source holds no data for yet ends the run as "Waiting for data": nothing is ingested or quarantined.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, State

from driftloop.core.contract import load_contract
from driftloop.core.periods import check_period, last_closed_period
from driftloop.core.records import Record
from driftloop.core.settings import Settings
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.lifecycle.policy import RetrainDecision
from driftloop.lifecycle.runtime import open_runtime
from driftloop.lifecycle.served import served_line
from driftloop.lifecycle.step import LoopState, run_period
from driftloop.modelling.promotion import LiveShadowDecision
from flows.options import FLOW_RESULTS
from flows.phases import TaskSteps
from flows.served import ServedSteps
from tasks.artifacts import artifact_key
from tasks.live_shadow import judge_live_shadow_task
from tasks.monitor import emit_drift_event

WAITING_FOR_DATA = "Waiting for data"


class MonitorOutcome(Record):
    verdict: MonitoringVerdict
    decision: RetrainDecision
    report: str  # where the Evidently HTML report is
    event_id: str | None  # the retraining event emitted, if the policy asked for one
    shadow: LiveShadowDecision | None = None  # `--served` with require_live_shadow_win: the live decision


def scheduled_period(settings: Settings) -> str:
    """The period that had just closed when this run was scheduled (or started, when run by hand)."""
    from prefect.runtime import flow_run

    time = load_contract(settings.data.contract).time
    scheduled = pd.Timestamp(flow_run.get_scheduled_start_time().isoformat())
    return last_closed_period(scheduled, time.period, time.timezone)


def _run_name() -> str:
    """`monitor 2013-04`: the period named, or the one a scheduled run will process."""
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    if parameters.get("period"):
        return f"monitor {parameters['period']}"
    settings = parameters.get("settings")
    settings = Settings.model_validate(settings) if settings else Settings.load()
    return f"monitor {scheduled_period(settings)}"


@flow(name="monitor", flow_run_name=_run_name, **FLOW_RESULTS)
def monitor_flow(
    period: str | None = None, settings: Settings | None = None, served: bool = False
) -> MonitorOutcome | State:
    """Check the champion on `period` (default: the one that just closed); emit the event on a retrain.

    `served`: monitor what the service served in the period (its prediction log, outcomes joined from the
    label source) instead of the source's batch; the same detectors and policy decide. With
    `require_live_shadow_win`, a challenger awaiting a live shadow comparison is then promoted if it beat the
    champion on the served rows both scored.
    """
    settings = settings or Settings.load()
    runtime = open_runtime(settings)
    if period:
        period = check_period(period, runtime.contract.time.period)
    else:
        period = scheduled_period(settings)
        held = runtime.sources.periods()
        if period not in held and not served:
            return _waiting_for_data(runtime.contract.name, period, held)
    champion = runtime.registry.require_champion().version
    state = LoopState(champion=champion, last_training=runtime.registry.newest_training())
    # Retraining is the `retrain` deployment's: this run emits the event its automation listens to.
    step = run_period(
        ServedSteps(runtime) if served else TaskSteps(runtime),
        state,
        period,
        kind=runtime.contract.time.period,
        label_delay=runtime.contract.target.label_delay,
        retrain=False,
    )
    if step.blocked is not None and step.blocked.cause is not None:
        raise step.blocked.cause  # the contract violation (with its report and quarantine), or nothing served
    assert step.verdict is not None and step.decision is not None  # observed, hence assessed and decided
    verdict, decision = step.verdict, step.decision
    get_run_logger().info(
        "%s, model v%s: %s. %s under %s",
        served_line(verdict) if verdict.served else verdict.period,
        verdict.model_version,
        "; ".join(f"{alarm.detector}: {alarm.reason}" for alarm in verdict.alarms) or "no alarm",
        decision.summary(),
        decision.policy.describe(),
    )
    shadow = (
        judge_live_shadow_task(runtime, verdict)
        if served and settings.promotion.require_live_shadow_win
        else None
    )
    # A decision on record judged the champion of its day; once a retraining has replaced that champion,
    # asking again would be an event about a model that no longer serves.
    current = decision.model_version == verdict.model_version
    if decision.retrain and shadow is not None and shadow.promote:
        get_run_logger().info(
            "%s: v%s replaced v%s on live shadow traffic: no retraining event about v%s",
            verdict.period,
            shadow.challenger,
            verdict.model_version,
            verdict.model_version,
        )
        current = False
    elif decision.retrain and not current:
        get_run_logger().info(
            "%s: the decision on record judged v%s, which v%s has replaced since: no new retraining event",
            verdict.period,
            decision.model_version,
            verdict.model_version,
        )
    event_id = emit_drift_event(runtime, verdict, decision) if decision.retrain and current else None
    report = runtime.storage.uri(verdict.report_key) if verdict.report_key else "-"
    return MonitorOutcome(verdict=verdict, decision=decision, report=report, event_id=event_id, shadow=shadow)


def _waiting_for_data(dataset: str, period: str, held: list[str]) -> State:
    """End the run in a named, non-failed state: the period's data has not arrived yet."""
    span = f"it holds {held[0]}..{held[-1]}" if held else "it holds no data"
    message = f"{dataset} {period}: no data in the source yet ({span}); nothing ingested or quarantined"
    get_run_logger().warning("%s: %s", WAITING_FOR_DATA, message)
    create_markdown_artifact(
        key=artifact_key("monitoring", dataset, period),
        markdown=f"## {period}: {WAITING_FOR_DATA.lower()}\n\n{message}.",
        description=f"Monitoring {period}: {WAITING_FOR_DATA.lower()}",
    )
    return Completed(name=WAITING_FOR_DATA, message=message)
