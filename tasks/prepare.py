"""Prepare a period on a cluster's worker: ingest and gate it from settings alone (`flows.fanout`)."""

from __future__ import annotations

from prefect import task

from driftloop.core.records import Record
from driftloop.core.settings import Settings
from driftloop.data.batches import DataVersion, ingest_period
from driftloop.data.gate import ContractViolation, gate_batch
from driftloop.data.validation import ValidationReport
from driftloop.lifecycle.runtime import open_runtime
from tasks.options import IN_MEMORY


class PreparedPeriod(Record):
    """A period a worker ingested and gated: its data version and, when it broke the contract, the
    report and where the batch was quarantined."""

    period: str
    version: DataVersion
    report: ValidationReport | None = None
    quarantine_uri: str | None = None

    def gate(self) -> DataVersion:
        """The validated version, or the `ContractViolation` the gate raised on the worker."""
        if self.report is not None and self.quarantine_uri is not None:
            raise ContractViolation(self.report, self.quarantine_uri)
        return self.version


@task(name="prepare-period", task_run_name="prepare {period}", **IN_MEMORY)
def prepare_period_task(settings: Settings, period: str) -> PreparedPeriod:
    """On a worker: read the period from the source, store it under its hash and gate it."""
    runtime = open_runtime(settings)
    data = settings.data
    rows = runtime.sources.read_period(period)
    version = ingest_period(
        runtime.storage, runtime.contract, rows, period, data.sample_fraction, data.sample_seed
    )
    try:
        gate_batch(runtime.storage, runtime.contract, version, rows)
    except ContractViolation as violation:
        return PreparedPeriod(
            period=period, version=version, report=violation.report, quarantine_uri=violation.quarantine_uri
        )
    return PreparedPeriod(period=period, version=version)
