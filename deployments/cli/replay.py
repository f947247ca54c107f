"""The verbs that replay a history: `run` (the main job) and `backtest` (policies side by side)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli.live import live_service
from deployments.cli.options import ContractOption, StoreOption, connect_prefect, period_label, settings_for


def _archive_local_store(url: str) -> Path | None:
    """Move a non-empty local store to .driftloop/archive/<UTC time>/ and return where it went."""
    from driftloop.core.storage import local_root

    root = local_root(url)
    if root is None or not (root / "registry").is_dir():
        return None  # remote stores are never moved; the flow refuses a non-empty registry instead
    target = (
        Path(".driftloop/archive").resolve() / f"{root.name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root, target)
    return target


def run(
    train_from: Annotated[
        str | None,
        typer.Option(help="first period of the initial training window; default the first with data"),
    ] = None,
    train_to: Annotated[
        str | None,
        typer.Option(help="last period of the initial training window; default one training window on"),
    ] = None,
    replay_to: Annotated[
        str | None, typer.Option(help="last period to replay; default the last with data")
    ] = None,
    plot: Annotated[Path, typer.Option(help="where to write the timeline PNG")] = Path(
        ".driftloop/timeline.png"
    ),
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="start `driftloop serve` on the first champion, send each period's records through it and "
            "monitor what it served; retrainings are promoted and the service swaps models",
        ),
    ] = False,
    live_batch: Annotated[int, typer.Option(min=1, help="records per request in a --live replay")] = 100,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """The main job: train on the first periods, then replay period by period; the policy decides retraining.

    A replay starts from an empty registry. An earlier run's local store is moved to
    `.driftloop/archive/` first (nothing is deleted). With --live the periods go through the online service.
    """
    settings = settings_for(store, contract)
    archived = _archive_local_store(settings.storage.url)
    if archived:
        typer.echo(
            f"An earlier run's store was moved to {archived}; this replay starts from an empty registry."
        )
    connect_prefect()
    from flows.lifecycle import lifecycle_flow

    with contextlib.ExitStack() as running:
        url = running.enter_context(live_service(settings, plot.parent.resolve())) if live else None
        result = lifecycle_flow(
            train_from=train_from,
            train_to=train_to,
            replay_to=replay_to,
            settings=settings,
            plot_path=str(plot),
            live_url=url,
            live_batch=live_batch,
        )
    typer.echo("\n" + result.table())
    if result.gaps:
        typer.echo(f"\nNo data for {', '.join(result.gaps)}: skipped.")
    typer.echo(f"\nTimeline plot: {plot.resolve()}")
    typer.echo(f"Finished in {result.flow_seconds:.0f} s. Registry: `driftloop models`.")


def backtest(
    replay_to: Annotated[
        str | None, typer.Option(help="last period to replay; default the last with data")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="also write one object per policy here")
    ] = None,
    plot: Annotated[Path, typer.Option(help="where to write the PNG")] = Path(".driftloop/backtest.png"),
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Replay the history under several retraining policies side by side: what each costs and buys."""
    settings = settings_for(store, contract)
    replay_to = period_label(settings, replay_to) if replay_to else None
    connect_prefect()
    from driftloop.replay.backtest import plot_backtest, render_backtest
    from flows.backtest import backtest_flow

    result = backtest_flow(replay_to=replay_to, settings=settings)
    typer.echo("\n" + render_backtest(result))
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(plot_backtest(result))
    typer.echo(f"\nPlot: {plot.resolve()}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps([run.summary() for run in result.runs], indent=2))
        typer.echo(f"JSON: {json_path.resolve()}")
