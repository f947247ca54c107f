"""Independent work of many periods spread over a Dask cluster: each worker ingests and gates periods.

With `DRIFTLOOP_DASK_ADDRESS` set, the replay and the backtest first prepare every period they will walk
through in parallel, with prefect-dask's `DaskTaskRunner`: a worker opens its own runtime from the
settings, reads its period from the source, stores it and gates it. Only settings and period names go to
the workers, and only each period's data version (or why it was quarantined) comes back; frames never
leave the worker. The sequential walk then finds every period ingested and validated, and reads each
batch once, as on one machine. Without the setting, nothing happens here.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from driftloop.core.settings import Settings
from driftloop.lifecycle.cluster import security
from flows.options import FLOW_RESULTS
from tasks.prepare import PreparedPeriod, prepare_period_task


def _run_name() -> str:
    from prefect.runtime import flow_run

    periods = flow_run.parameters["periods"]
    return f"prepare {periods[0]}..{periods[-1]}"


@flow(name="prepare-periods", flow_run_name=_run_name, **FLOW_RESULTS)
def prepare_periods_flow(settings: Settings, periods: list[str]) -> dict[str, PreparedPeriod]:
    """Every period at once on the flow's task runner (the cluster)."""
    futures = {period: prepare_period_task.submit(settings, period) for period in periods}
    return {period: future.result() for period, future in futures.items()}


def prepare_on_cluster(settings: Settings, periods: list[str]) -> dict[str, PreparedPeriod]:
    """Each period as a cluster prepared it; empty without a cluster."""
    if not settings.dask.address or not periods:
        return {}
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(
        address=settings.dask.address, client_kwargs={"security": security(settings.dask)}
    )
    prepared = prepare_periods_flow.with_options(task_runner=runner)(settings, periods)
    blocked = [period for period, done in prepared.items() if done.quarantine_uri]
    get_run_logger().info(
        "%d period(s) ingested and gated on the cluster%s",
        len(prepared),
        f"; quarantined: {', '.join(blocked)}" if blocked else "",
    )
    return prepared
