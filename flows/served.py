"""The period step on what the service served (`monitor --served`) and through the running service (the live
replay, `run --live`): the batch step's own detectors, policy and retraining, on the prediction log.

Apart from `flows.phases` so that a verb that only ingests does not import what reads served predictions.
"""

from __future__ import annotations

from prefect import get_run_logger

from driftloop.data.gate import ContractViolation
from driftloop.lifecycle.monitoring import MonitoringVerdict, ServedSummary
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.scoring import ScoredBatch
from driftloop.lifecycle.served import NothingServed
from driftloop.lifecycle.step import Blocked
from driftloop.online.traffic import TrafficSummary
from flows.phases import TaskSteps, ingest_and_gate
from tasks.monitor import monitor_task
from tasks.served import observe_served_task, send_traffic_task


class ServedSteps(TaskSteps):
    """The period step on what the service served: the prediction log instead of the source's batch.

    Observing reads the period's logged predictions of the champion (labels joined where they arrived);
    the detectors, the policy and a retraining are the batch step's own.
    """

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.summaries: dict[str, ServedSummary] = {}

    def observe(self, period: str, champion: int) -> ScoredBatch | Blocked:
        try:
            served = observe_served_task(self.runtime, period, champion)
        except NothingServed as nothing:
            get_run_logger().warning("%s", nothing)
            return Blocked(str(nothing), nothing)
        self.summaries[period] = served.summary
        return served.scored

    def assess(self, champion: int, scored: ScoredBatch, labels_known: bool) -> MonitoringVerdict:
        summary = self.summaries[scored.batch.period]
        return monitor_task(self.runtime, scored, labels_known or summary.labelled > 0, summary)


class LiveSteps(ServedSteps):
    """The live replay's period step: the period's batch arrives (ingested and gated: retrainings learn from
    it), its records are sent to the running service as clients would, and what the service served is
    monitored. The champion the service must answer with is the loop's: a promotion swaps it first."""

    def __init__(self, runtime: Runtime, url: str, batch: int) -> None:
        super().__init__(runtime)
        self.url = url
        self.batch = batch
        self.traffic: dict[str, TrafficSummary] = {}

    def observe(self, period: str, champion: int) -> ScoredBatch | Blocked:
        try:
            ingest_and_gate(self.runtime, period)
        except ContractViolation as violation:  # not learnt from; what was served is still monitored
            get_run_logger().warning("%s blocked at the gate (quarantined).\n%s", period, violation)
        self.traffic[period] = send_traffic_task(self.runtime, period, self.url, champion, self.batch)
        return super().observe(period, champion)
