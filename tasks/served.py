"""What the service served: a period's traffic sent to it (the live replay), and a period of its prediction
log, refusals and outcomes read back as a scored batch."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pandas as pd
from prefect import get_run_logger, task

from driftloop.core.periods import period_bounds
from driftloop.data.batches import NoDataForPeriod
from driftloop.data.enrichment import References
from driftloop.data.sources import read_table_file
from driftloop.lifecycle.runtime import Runtime
from driftloop.lifecycle.served import ServedPeriod, served_period, shadow_text
from driftloop.online.predlog import read_prediction_log, read_refusals
from driftloop.online.traffic import TrafficSummary, client_records, send
from tasks.options import IN_MEMORY


def _outcomes(runtime: Runtime, period: str) -> pd.DataFrame:
    """The label source's rows: the contract's `target.labels` file, else the source's rows of the period."""
    labels = runtime.contract.target.labels
    if labels is not None:
        return read_table_file(labels.path)
    try:
        return runtime.sources.read_period(period)
    except NoDataForPeriod:
        return pd.DataFrame()


@task(name="observe-served", task_run_name="served {period} (v{version})", **IN_MEMORY)
def observe_served_task(runtime: Runtime, period: str, version: int) -> ServedPeriod:
    """The period's predictions served by `version`, with their outcomes joined where they have arrived."""
    contract, model = runtime.contract, runtime.registry.model
    start, _ = period_bounds(period, contract.time.period, contract.time.timezone)
    until = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
    with runtime.clock.measure("read served"):
        log = read_prediction_log(runtime.storage, contract, model, start, until)
        refusals = read_refusals(runtime.storage, contract, model, start, until)
        outcomes = _outcomes(runtime, period)
    loaded = runtime.models.load(version)
    served = served_period(
        log,
        contract,
        period,
        model=model,
        version=version,
        spec=loaded.spec,
        references=References(contract, runtime.tables),
        outcomes=outcomes,
        refusals=refusals,
    )
    summary = served.summary
    shadow = shadow_text(summary)
    get_run_logger().info(
        "%s: %s predictions served by v%s, outcomes joined for %s (%.1f%%), %s records refused%s",
        period,
        f"{summary.monitored:,}",
        version,
        f"{summary.labelled:,}",
        100 * summary.join_rate,
        f"{summary.refused_records:,}",
        f"; {shadow}" if shadow else "",
    )
    return served


class ServiceNotReady(RuntimeError):
    """The service did not serve the expected model, or did not log its answers, in time."""


def _wait(what: str, ready: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise ServiceNotReady(f"{what} within {seconds:.0f} s")
        time.sleep(0.2)


def _serving(url: str, version: int) -> bool:
    try:
        health = httpx.get(f"{url}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(health, dict) and health.get("model_version") == f"v{version}"


@task(name="send-traffic", task_run_name="traffic {period} -> v{version}")
def send_traffic_task(runtime: Runtime, period: str, url: str, version: int, batch: int) -> TrafficSummary:
    """Send the period's records to the service once it serves `version`; return when they are logged."""
    _wait(f"the service at {url} did not serve v{version}", lambda: _serving(url, version), 120)
    records = client_records(runtime.sources.read_period(period), runtime.contract)
    started = pd.Timestamp.now(tz="UTC")
    summary = send(records, url, batch=batch)
    contract, model = runtime.contract, runtime.registry.model

    def logged() -> bool:
        until = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
        return (
            len(read_prediction_log(runtime.storage, contract, model, started, until))
            >= summary.answered_records
        )

    _wait(f"the service did not log its {summary.answered_records:,} answers for {period}", logged, 120)
    get_run_logger().info("%s traffic: %s", period, "; ".join(summary.lines()))
    return summary
