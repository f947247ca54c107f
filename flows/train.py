"""Train + evaluate + promote: a challenger on the window ending at `as_of`, promoted only on evidence."""

from __future__ import annotations

from prefect import flow

from driftloop.core.periods import check_period
from driftloop.core.settings import Settings
from driftloop.lifecycle.runtime import open_runtime
from flows.options import FLOW_RESULTS
from flows.phases import TrainOutcome, ingest_window, train_and_judge


@flow(name="train", flow_run_name="train as of {as_of}", **FLOW_RESULTS)
def train_flow(as_of: str, settings: Settings | None = None) -> TrainOutcome:
    """Ingest and gate the window's periods, train on those that pass, evaluate and promote if better."""
    runtime = open_runtime(settings or Settings.load())
    contract = runtime.contract
    as_of = check_period(as_of, contract.time.period)
    ingest_window(runtime, as_of)
    champion = runtime.registry.champion()
    return train_and_judge(runtime, as_of, as_of, champion.version if champion else None)
