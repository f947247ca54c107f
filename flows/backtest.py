"""Backtest: replay the history under several retraining policies and compare what each one buys.

Ingest and gate run as in the main job (cached, so a store that replayed already reads nothing new); the
comparison itself runs in the flow, because its policies share trainings and verdicts in memory.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from driftloop.core import layout
from driftloop.core.settings import Settings
from driftloop.data.gate import ContractViolation
from driftloop.lifecycle.policy import backtest_policies
from driftloop.lifecycle.runtime import open_runtime
from driftloop.lifecycle.scoring import EnrichedBatch
from driftloop.replay.backtest import Backtest, BacktestResult, plot_backtest, render_backtest, run_backtest
from driftloop.replay.plan import plan_replay
from flows.fanout import prepare_on_cluster
from flows.options import FLOW_RESULTS
from flows.phases import ingest_and_gate
from tasks.artifacts import artifact_key, as_link
from tasks.score import enrich_task


@flow(name="backtest", flow_run_name="backtest", **FLOW_RESULTS)
def backtest_flow(
    train_from: str | None = None,
    train_to: str | None = None,
    replay_to: str | None = None,
    settings: Settings | None = None,
) -> BacktestResult:
    """Compare retraining policies on the history; the table, PNG and JSON go to the store and artifacts."""
    runtime = open_runtime(settings or Settings.load())
    contract = runtime.contract
    plan = plan_replay(
        runtime.sources.periods(),
        contract.time.period,
        runtime.plan.train_periods,
        train_from,
        train_to,
        replay_to,
    )
    batches: dict[str, EnrichedBatch] = {}
    prepared = prepare_on_cluster(runtime.settings, [*plan.initial, *plan.replay])  # {} on one machine
    for period in [*plan.initial, *plan.replay]:
        try:
            batches[period] = enrich_task(runtime, ingest_and_gate(runtime, period, prepared.get(period)))
        except ContractViolation as violation:
            get_run_logger().warning("%s blocked at the gate: no policy sees it.\n%s", period, violation)
    # In the flow's body, not a task: its progress lines are the flow's (task logs stay off the console).
    settings = runtime.settings
    backtest = Backtest(
        storage=runtime.storage,
        contract=contract,
        batches=batches,
        plan=runtime.plan,
        training=settings.training,
        drift=settings.drift,
        promotion=settings.promotion,
        progress=get_run_logger().info,
    )
    policies = backtest_policies(settings.policy, runtime.plan.train_periods)
    result = run_backtest(backtest, policies, list(plan.initial), list(plan.replay), default="configured")
    runtime.storage.write_bytes(
        layout.backtest_report(contract.name, "backtest.json"), result.to_json().encode()
    )
    png_key = layout.backtest_report(contract.name, "backtest.png")
    runtime.storage.write_bytes(png_key, plot_backtest(result))
    create_table_artifact(
        key=artifact_key("backtest", contract.name),
        table=[run.summary() for run in result.runs],
        description=f"{contract.name}: retraining policies compared over {plan.replay[0]}..{plan.replay[-1]}",
    )
    create_markdown_artifact(
        key=artifact_key("backtest-summary", contract.name),
        markdown=f"```\n{render_backtest(result)}\n```\n\n[Plot]({as_link(runtime.storage.uri(png_key))})",
        description="Backtest summary",
    )
    default = next(run for run in result.runs if run.default)
    every = next(run for run in result.runs if run.policy == "every-period")
    get_run_logger().info(
        "Backtest of %s done: the default policy alarmed on %d of %d %ss, retrained %d times, mean AUC %s "
        "(every period: %s); the table is the artifact %r",
        contract.name,
        default.alarms,
        len(result.replay),
        result.period_kind,
        default.retrains,
        f"{default.mean_auc:.4f}" if default.mean_auc is not None else "-",
        f"{every.mean_auc:.4f}" if every.mean_auc is not None else "-",
        artifact_key("backtest-summary", contract.name),
    )
    return result
