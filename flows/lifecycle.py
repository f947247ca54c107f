"""The main job: train on the first months, then replay the rest month by month through the whole loop.

Each month: ingest -> validate (gate) -> score with the champion -> monitor -> on drift, retrain ->
promote when better. A month that breaks the contract is quarantined and skipped; the champion stays.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from driftloop.batches import ContractViolation
from driftloop.data import month_range, shift_month
from driftloop.runtime import open_runtime
from driftloop.settings import Settings
from driftloop.timeline import MonthRow, plot_timeline, render_table, table_records
from flows.ingest import ingest_flow
from flows.monitor import monitor_flow
from flows.retrain import retrain_flow
from flows.score import score_flow
from flows.train import train_flow
from tasks.score import original_model_auc


@flow(name="lifecycle", flow_run_name="lifecycle {train_from}..{replay_to}")
def lifecycle_flow(
    train_from: str = "2013-01",
    train_to: str = "2013-03",
    replay_to: str = "2013-12",
    retrain_on_drift: bool = True,
    settings: Settings | None = None,
    plot_path: str | None = None,
) -> list[MonthRow]:
    """Run the whole loop on real data and report it as a table, a PNG and Prefect artifacts."""
    settings = settings or Settings.load()
    runtime = open_runtime(settings)
    logger = get_run_logger()
    model = runtime.registry.model
    existing = runtime.registry.versions()
    if existing:
        # A replay of the past must not be served by models that have already seen its future.
        raise RuntimeError(
            f"{model} in {runtime.storage.url} already has {len(existing)} version(s) from an earlier run; "
            "a replay starts from an empty registry: use `driftloop run` (it archives the old store) "
            "or point --store at an empty one"
        )

    for month in month_range(train_from, train_to):
        try:
            ingest_flow(month, settings)
        except ContractViolation as violation:  # train on the months that passed; lineage names the gap
            logger.warning("%s blocked at the gate; training without it.\n%s", month, violation)
    first = train_flow(as_of=train_to, settings=settings)
    champion = runtime.registry.champion()
    if champion is None:
        raise RuntimeError(f"the first model v{first.version} was not promoted: {'; '.join(first.reasons)}")
    original = champion.version
    logger.info("Champion after initial training: v%s (holdout AUC %.4f)", original, first.holdout_auc)

    replay = month_range(shift_month(train_to, 1), replay_to)
    progress = create_progress_artifact(
        progress=0.0, key=f"lifecycle-progress-{model}", description="Months replayed"
    )
    rows: list[MonthRow] = []
    for done, month in enumerate(replay, 1):
        try:
            ingest_flow(month, settings)
        except ContractViolation as violation:
            logger.warning("%s blocked at the gate; champion unchanged.\n%s", month, violation)
            rows.append(
                MonthRow(
                    month,
                    "blocked",
                    runtime.registry.champion().version,
                    None,
                    None,
                    None,
                    False,
                    False,
                    False,
                )
            )
            continue
        serving = runtime.registry.champion().version
        scored = score_flow(month, version=serving, settings=settings)
        monitored = monitor_flow(month, settings)
        original_auc = original_model_auc(runtime, month, original)
        retrained = promoted = False
        new_champion = None
        if monitored.drifted and retrain_on_drift:
            outcome = retrain_flow(month, reason="; ".join(monitored.reasons), settings=settings)
            retrained, promoted = True, outcome.promoted
            new_champion = outcome.version if outcome.promoted else None
        row = MonthRow(
            month,
            "ok",
            serving,
            scored.auc,
            original_auc,
            monitored.drift_share,
            monitored.drifted,
            retrained,
            promoted,
            new_champion,
        )
        rows.append(row)
        logger.info(
            "[%d/%d] %s: champion v%s AUC %s | original %s | drift %.2f%s | %s",
            done,
            len(replay),
            month,
            serving,
            f"{scored.auc:.4f}" if scored.auc else "-",
            f"{original_auc:.4f}" if original_auc else "-",
            monitored.drift_share,
            " DRIFT" if monitored.drifted else "",
            f"retrained -> v{outcome.version} {'PROMOTED' if promoted else 'kept champion'}"
            if retrained
            else "no retrain",
        )
        update_progress_artifact(progress, progress=100.0 * done / len(replay))

    table = render_table(rows)
    create_table_artifact(
        key=f"lifecycle-{model}",
        table=table_records(rows),
        description=f"{runtime.contract.name}: replay {replay[0]}..{replay[-1]}",
    )
    png = plot_timeline(
        rows,
        Path(plot_path or ".driftloop/timeline.png"),
        title=f"{runtime.contract.name}: live champion vs original model",
        share_threshold=settings.drift.share_threshold,
    )
    stored = f"reports/lifecycle/{runtime.contract.name}/timeline.png"
    runtime.storage.write_bytes(stored, png.read_bytes())
    create_markdown_artifact(
        key=f"lifecycle-plot-{model}",
        markdown=f"Timeline plot: `{png.resolve()}` (copy at `{runtime.storage.uri(stored)}`)"
        f"\n\n```\n{table}\n```",
        description="Replay summary",
    )
    return rows
