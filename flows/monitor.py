"""Monitor: ingest, gate, score and check the champion on a period; the policy decides on a retraining.

This is the production cadence: with no period named it processes the one that has just closed, in the
contract's timezone and period.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger

from driftloop.monitoring import MonitoringVerdict
from driftloop.periods import check_period, last_closed_period
from driftloop.policy import RetrainDecision
from driftloop.records import Record
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from flows.phases import ingest_and_gate
from tasks.monitor import decide_task, emit_drift_event, monitor_task
from tasks.score import enrich_task, score_task


class MonitorOutcome(Record):
    verdict: MonitoringVerdict
    decision: RetrainDecision
    report: str  # where the Evidently HTML report is
    event_id: str | None  # the retraining event emitted, if the policy asked for one


def _run_name() -> str:
    """`monitor 2013-04`, or `monitor (last closed period)` for a scheduled run that names none."""
    from prefect.runtime import flow_run

    period = flow_run.parameters.get("period")
    return f"monitor {period}" if period else "monitor (last closed period)"


@flow(name="monitor", flow_run_name=_run_name)
def monitor_flow(period: str | None = None, settings: Settings | None = None) -> MonitorOutcome:
    """Check the champion on `period` (default: the one that just closed); emit the event on a retrain."""
    runtime = open_runtime(settings or Settings.load())
    time = runtime.contract.time
    period = (
        check_period(period, time.period)
        if period
        else last_closed_period(pd.Timestamp.now(tz="UTC"), time.period, time.timezone)
    )
    champion = runtime.registry.require_champion()
    gate = ingest_and_gate(runtime, period)
    scored = score_task(runtime, enrich_task(runtime, gate), champion.version)
    verdict = monitor_task(runtime, scored)
    decision = decide_task(runtime, verdict)
    get_run_logger().info(
        "%s, model v%s: %s. %s under %s",
        verdict.period,
        verdict.model_version,
        "; ".join(f"{alarm.detector}: {alarm.reason}" for alarm in verdict.alarms) or "no alarm",
        decision.summary(),
        decision.policy.describe(),
    )
    event_id = emit_drift_event(runtime, verdict, decision) if decision.retrain else None
    report = runtime.storage.uri(verdict.report_key) if verdict.report_key else "-"
    return MonitorOutcome(verdict=verdict, decision=decision, report=report, event_id=event_id)
