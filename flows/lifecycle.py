"""The main job: train on the first periods, then replay the rest period by period through the whole loop.

Each period: ingest -> gate -> score with the champion -> monitor -> on drift, retrain -> promote when
better. A period that breaks the contract is quarantined and skipped; the champion stays. One flow run,
one runtime: each batch is read once and enriched once, and every model scores that same frame.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from driftloop.core import layout
from driftloop.core.records import Record
from driftloop.core.settings import Settings
from driftloop.data.gate import ContractViolation
from driftloop.lifecycle.runtime import Runtime, open_runtime
from driftloop.lifecycle.step import LoopState, PeriodOutcome, StepResult, run_period
from driftloop.registry import NoChampion
from driftloop.replay.plan import ReplayPlan, later_window, plan_replay, refuse_used_registry
from driftloop.replay.table import drift_text, render_table, table_records
from driftloop.replay.timeline import plot_timeline
from flows.fanout import prepare_on_cluster
from flows.options import FLOW_RESULTS
from flows.phases import TaskSteps, ingest_and_gate, train_and_judge
from flows.served import LiveSteps
from tasks.artifacts import artifact_key
from tasks.prepare import PreparedPeriod
from tasks.score import enrich_task, score_task


class ReplayResult(Record):
    """The replay's table, where its picture is, and where the time went."""

    period_kind: str
    rows: tuple[PeriodOutcome, ...]
    gaps: tuple[str, ...]
    timeline: str  # where the PNG is in the store
    batch_reads: dict[str, int]  # per replayed period: reads of its batch before any retraining
    phase_seconds: dict[str, float]  # time inside the domain calls, per phase
    flow_seconds: float  # the whole flow run, orchestration included

    def table(self) -> str:
        return render_table(list(self.rows), self.period_kind)


@flow(name="lifecycle", flow_run_name="replay", **FLOW_RESULTS)
def lifecycle_flow(
    train_from: str | None = None,
    train_to: str | None = None,
    replay_to: str | None = None,
    retrain: bool = True,
    settings: Settings | None = None,
    plot_path: str | None = None,
    live_url: str | None = None,
    live_batch: int = 100,
) -> ReplayResult:
    """Run the whole loop on real data and report it as a table, a PNG and Prefect artifacts.

    Args:
        train_from: first period of the initial training window (default: the first with data).
        train_to: its last period (default: the training window's length on).
        replay_to: last period to replay (default: the last with data).
        retrain: retrain when the configured policy says so (off: monitor only, as a baseline).
        settings: all settings; read from the environment when omitted.
        plot_path: also write the timeline PNG here.
        live_url: a running `driftloop serve` on this store: each period's records are sent to it and what it
            served is monitored (`driftloop run --live`), instead of the batch.
        live_batch: records per request in the live replay.
    """
    started = time.perf_counter()
    runtime = open_runtime(settings or Settings.load())
    logger = get_run_logger()
    refuse_used_registry(runtime.registry)
    contract = runtime.contract
    kind = contract.time.period
    plan = plan_replay(
        runtime.sources.periods(),
        kind,
        runtime.plan.train_periods,
        train_from,
        train_to,
        replay_to,
    )
    if plan.gaps:
        logger.warning("No data in the source for %s: skipped, not ingested.", ", ".join(plan.gaps))

    prepared = prepare_on_cluster(runtime.settings, [*plan.initial, *plan.replay])  # {} on one machine
    skipped: list[str] = []
    while not _initial_window_passes(runtime, plan, prepared):
        # Not one period of the window passed the gate: with no window asked for, start after it.
        if train_from is not None:
            break  # the window asked for: training says none of its periods has a validated batch
        skipped += plan.initial
        plan = later_window(plan, runtime.sources.periods(), kind, runtime.plan.train_periods, replay_to)
        logger.warning(
            "%s broke the data contract (quarantined): the first training window is %s..%s instead.",
            ", ".join(skipped), plan.initial[0], plan.initial[-1],
        )  # fmt: skip
    first = train_and_judge(runtime, as_of=plan.initial[-1], data_period=plan.initial[-1], champion=None)
    if first.champion_version is None:
        raise NoChampion(f"the first model v{first.version} was not promoted: {'; '.join(first.reasons)}")
    original = first.champion_version
    logger.info("Champion after initial training: v%s (holdout AUC %.4f)", original, first.holdout_auc)

    progress = create_progress_artifact(
        progress=0.0,
        key=artifact_key("replay-progress", runtime.registry.model),
        description="Periods replayed",
    )
    steps = LiveSteps(runtime, live_url, live_batch) if live_url else TaskSteps(runtime, prepared)
    state: LoopState[int] = LoopState(champion=original, last_training=plan.initial[-1])
    rows: list[PeriodOutcome] = []
    reads: dict[str, int] = {}
    delay = contract.target.label_delay
    for done, period in enumerate(plan.replay, 1):
        step = run_period(steps, state, period, kind=kind, label_delay=delay, retrain=retrain)
        row = _with_original(runtime, step, original)
        if isinstance(steps, LiveSteps):
            row = _with_traffic(row, steps, period)
        if step.scored is not None:
            reads[period] = runtime.storage.reads_under(layout.batches(contract.name, period))
        rows.append(row)
        state = step.state
        logger.info("[%d/%d] %s", done, len(plan.replay), _progress_line(row))
        update_progress_artifact(progress, progress=100.0 * done / len(plan.replay))

    result = _report(runtime, rows, plan.gaps, reads, plot_path, started)
    logger.info("Replay of %s finished:\n%s", contract.name, result.table())
    return result


def _initial_window_passes(runtime: Runtime, plan: ReplayPlan, prepared: dict[str, PreparedPeriod]) -> bool:
    """Ingest and gate the first training window's periods; True if at least one passed the contract."""
    passed = False
    for period in plan.initial:
        try:  # enriched now and kept: the first trainings read these periods from memory, not the store
            enrich_task(runtime, ingest_and_gate(runtime, period, prepared.get(period)))
            passed = True
        except ContractViolation as violation:  # train on the periods that passed; lineage names the gap
            get_run_logger().warning("%s blocked at the gate (quarantined).\n%s", period, violation)
    return passed


def _with_traffic(row: PeriodOutcome, steps: LiveSteps, period: str) -> PeriodOutcome:
    """The live period's row with who answered its requests and how many failed."""
    traffic = steps.traffic.get(period)
    if traffic is None:
        return row
    versions = sorted(traffic.versions, key=lambda version: (len(version), version))
    return row.model_copy(
        update={"served_by": ", ".join(versions) or "-", "failed_requests": traffic.failed_requests}
    )


def _with_original(runtime: Runtime, step: StepResult[int], original: int) -> PeriodOutcome:
    """The period's row with what the first model would have scored: the replay's comparison in hindsight."""
    scored = step.scored
    if scored is None:
        return step.outcome
    if scored.model_version == original:
        metrics = scored.metrics
    else:
        metrics = score_task(runtime, scored.batch, original, store=False).metrics
    return step.outcome.model_copy(update={"original_auc": metrics.auc if metrics else None})


def _progress_line(row: PeriodOutcome) -> str:
    if row.status == "blocked":
        return f"{row.period}: blocked at the gate, champion {row.champion} unchanged"
    auc = f"{row.champion_auc:.4f}" if row.champion_auc is not None else "-"
    original = f"{row.original_auc:.4f}" if row.original_auc is not None else "-"
    decided = f"no retrain ({row.why})" if row.why else "no retrain"
    if row.retrained:
        outcome = f"PROMOTED {row.new_champion}" if row.promoted else "kept champion"
        decided = f"retrained ({row.why}) -> {outcome}"
    drift = drift_text(row)
    champion = f"champion {row.champion} AUC {auc}"
    return f"{row.period}: {champion} | original {original} | drift {drift} | {decided}"


def _report(
    runtime: Runtime,
    rows: list[PeriodOutcome],
    gaps: tuple[str, ...],
    reads: dict[str, int],
    plot_path: str | None,
    started: float,
) -> ReplayResult:
    """The table and PNG as artifacts and files; the phase timings for whoever asks where time went."""
    contract, model = runtime.contract, runtime.registry.model
    kind = contract.time.period
    create_table_artifact(
        key=artifact_key("replay", model),
        table=table_records(rows, kind),
        description=f"{contract.name}: replay {rows[0].period}..{rows[-1].period}" if rows else contract.name,
    )
    png = plot_timeline(
        rows,
        title=f"{contract.name}: live champion vs original model",
        period_kind=kind,
        index_threshold=runtime.settings.drift.drift_index_threshold,
    )
    stored = layout.replay_timeline(contract.name)
    runtime.storage.write_bytes(stored, png)
    if plot_path:
        Path(plot_path).parent.mkdir(parents=True, exist_ok=True)
        Path(plot_path).write_bytes(png)
    result = ReplayResult(
        period_kind=kind,
        rows=tuple(rows),
        gaps=gaps,
        timeline=runtime.storage.uri(stored),
        batch_reads=reads,
        phase_seconds=runtime.clock.totals(),
        flow_seconds=time.perf_counter() - started,
    )
    create_markdown_artifact(
        key=artifact_key("replay-summary", model),
        markdown=f"Timeline plot: `{plot_path or result.timeline}`\n\n```\n{result.table()}\n```",
        description="Replay summary",
    )
    return result
