"""`driftloop`: the command line. Each verb calls one flow (or one domain function) and prints its result.

Settings are loaded once here, at the entry point. A mistake gets one line and a documented exit code
(`deployments.errors.ExitCode`); `--debug` shows the traceback.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from deployments.errors import ExitCode, classify
from deployments.service_cli import serve
from deployments.stack.cli import stack_app
from driftloop.settings import Settings

app = typer.Typer(
    help="driftloop: an ML lifecycle on Prefect. Data contracts gate training; drift starts retraining.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.add_typer(stack_app, name="stack")

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="artifact store URL (path, file://… or s3://…); default from settings"),
]
ContractOption = Annotated[
    str | None,
    typer.Option("--contract", help="data contract YAML; default DRIFTLOOP_DATA_CONTRACT or flights"),
]
_debug = False
# What a verb entered for the rest of its process (Prefect settings for the embedded server); main closes it.
_process = contextlib.ExitStack()


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks and debug logs")] = False,
) -> None:
    global _debug
    _debug = debug


def _settings(store: str | None = None, contract: str | None = None, flows: bool = True) -> Settings:
    """Settings from the environment, command-line overrides applied once, Prefect's defaults set.

    With `flows`, Prefect is imported and its console keeps run failures to the one line `main` prints
    (the UI keeps the tracebacks; `--debug` shows them here too).
    """
    from deployments.environment import embedded_prefect, prefect_environment, quiet_console

    settings = Settings.load(store=store, contract=contract)
    prefect_environment(settings)
    if flows:
        _process.enter_context(embedded_prefect())
        if not _debug:
            quiet_console()
    return settings


def _label(settings: Settings, label: str) -> str:
    """A period label checked against the contract's period before any flow (or server) starts."""
    from driftloop.contract import load_contract
    from driftloop.periods import check_period

    return check_period(label, load_contract(settings.data.contract).time.period)


def _archive_local_store(url: str) -> Path | None:
    """Move a non-empty local store to .driftloop/archive/<UTC time>/ and return where it went."""
    from driftloop.storage import local_root

    root = local_root(url)
    if root is None or not (root / "registry").is_dir():
        return None  # remote stores are never moved; the flow refuses a non-empty registry instead
    target = (
        Path(".driftloop/archive").resolve() / f"{root.name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root, target)
    return target


@app.command()
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
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """The main job: train on the first periods, then replay period by period with drift-triggered retraining.

    A replay starts from an empty registry. An earlier run's local store is moved to
    `.driftloop/archive/` first (nothing is deleted).
    """
    settings = _settings(store, contract)
    archived = _archive_local_store(settings.storage.url)
    if archived:
        typer.echo(
            f"An earlier run's store was moved to {archived}; this replay starts from an empty registry."
        )
    from flows.lifecycle import lifecycle_flow

    result = lifecycle_flow(
        train_from=train_from, train_to=train_to, replay_to=replay_to, settings=settings, plot_path=str(plot)
    )
    typer.echo("\n" + result.table())
    if result.gaps:
        typer.echo(f"\nNo data for {', '.join(result.gaps)}: skipped.")
    typer.echo(f"\nTimeline plot: {plot.resolve()}")
    typer.echo(f"Finished in {result.flow_seconds:.0f} s. Registry: `driftloop models`.")


@app.command()
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
    settings = _settings(store, contract)
    from driftloop.backtest import plot_backtest, render_backtest
    from flows.backtest import backtest_flow

    result = backtest_flow(replay_to=_label(settings, replay_to) if replay_to else None, settings=settings)
    typer.echo("\n" + render_backtest(result))
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(plot_backtest(result))
    typer.echo(f"\nPlot: {plot.resolve()}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps([run.summary() for run in result.runs], indent=2))
        typer.echo(f"JSON: {json_path.resolve()}")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="a CSV or Parquet batch")],
    contract: ContractOption = None,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="check only this period of a longer export, as ingest cuts it")
    ] = None,
) -> None:
    """Check a batch against a contract: exit 0 if it passes, 1 naming every broken rule if not."""
    settings = _settings(contract=contract, flows=False)
    from driftloop.batches import cut_nonempty
    from driftloop.contract import load_contract
    from driftloop.sources import read_table_file
    from driftloop.validation import validate_batch

    rules = load_contract(settings.data.contract)
    batch = read_table_file(file)
    if period is not None:
        batch = cut_nonempty(batch, rules, period)
    report = validate_batch(batch, rules)
    if json_report:
        json_report.write_text(report.to_json())
    typer.echo(report.message())
    raise typer.Exit(ExitCode.OK if report.passed else ExitCode.CONTRACT_VIOLATION)


@app.command()
def ingest(
    period: Annotated[str, typer.Argument(help="period to ingest, in the contract's period (e.g. 2013-04)")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest one period and run the data contract on it (quarantined if it fails)."""
    settings = _settings(store, contract)
    from flows.ingest import ingest_flow

    version = ingest_flow(_label(settings, period), settings)
    typer.echo(f"{version.period}: {version.rows:,} rows, data version {version.short} passed the contract")


@app.command()
def train(
    as_of: Annotated[str, typer.Option(help="last period of the training window, e.g. 2013-03")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest the window, train a challenger, evaluate it against the champion and promote if better."""
    settings = _settings(store, contract)
    from flows.train import train_flow

    outcome = train_flow(as_of=_label(settings, as_of), settings=settings)
    verdict = "promoted to champion" if outcome.promoted else "not promoted"
    typer.echo(f"v{outcome.version} (holdout AUC {outcome.holdout_auc:.4f}) {verdict}:")
    for reason in outcome.reasons:
        typer.echo(f"  - {reason}")
    if outcome.missing_periods:
        typer.echo(f"  (trained without {', '.join(outcome.missing_periods)}: no validated batch)")


@app.command()
def score(
    period: Annotated[str, typer.Argument(help="period to score, in the contract's period")],
    version: Annotated[int | None, typer.Option(help="model version; default the champion")] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest and gate a period, then score it with the champion and store the predictions."""
    settings = _settings(store, contract)
    from flows.score import score_flow

    outcome = score_flow(_label(settings, period), version=version, settings=settings)
    auc = f", AUC {outcome.auc:.4f}" if outcome.auc is not None else ""
    scored_by = f"{outcome.rows:,} rows scored by v{outcome.model_version}{auc}"
    typer.echo(f"{outcome.period}: {scored_by} -> {outcome.predictions}")


@app.command()
def monitor(
    period: Annotated[
        str | None, typer.Argument(help="period to monitor; default the one that has just closed")
    ] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Every detector on the champion's period; the policy decides; a retrain emits an event."""
    settings = _settings(store, contract)
    from flows.monitor import WAITING_FOR_DATA, monitor_flow

    state = monitor_flow(_label(settings, period) if period else None, settings, return_state=True)
    if state.name == WAITING_FOR_DATA:  # a scheduled-style run whose period has no data yet
        typer.echo(f"{WAITING_FOR_DATA}: {state.message}")
        return
    outcome = state.result()
    verdict, decision = outcome.verdict, outcome.decision
    typer.echo(
        f"{verdict.period}: {len(verdict.alarms)} alarm(s) on model v{verdict.model_version}; "
        f"{'RETRAIN' if decision.retrain else 'no retrain'} under {decision.policy.describe()}"
    )
    for alarm in verdict.alarms:
        typer.echo(f"  - {alarm.detector}: {alarm.reason}")
    typer.echo(f"Report: {outcome.report}")


@app.command()
def models(
    card: Annotated[int | None, typer.Option(help="print the model card of this version")] = None,
    champion_at: Annotated[
        str | None, typer.Option(help="which version was champion at this time (ISO-8601, UTC if no zone)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    store: StoreOption = None,
) -> None:
    """The registry: versions, the champion, the promotion log (and model cards)."""
    from deployments.listing import registry_json, registry_text
    from driftloop.runtime import open_runtime

    registry = open_runtime(_settings(store, flows=False)).registry
    if card is not None:
        typer.echo(registry.card(card))
    elif champion_at is not None:
        version = registry.champion_at(champion_at)
        typer.echo(f"v{version}" if version else "no champion at that time")
    else:
        typer.echo(json.dumps(registry_json(registry), indent=2) if as_json else registry_text(registry))


@app.command()
def reproduce(
    version: Annotated[int, typer.Argument(help="the registered version to rebuild")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Rebuild a registered model from its lineage; exit 0 if the SHA-256 matches, 1 naming what differs."""
    from driftloop.reproduce import reproduce_version
    from driftloop.runtime import open_runtime

    runtime = open_runtime(_settings(store, contract, flows=False))
    outcome = reproduce_version(runtime.registry, version, runtime.contract)
    if outcome.identical:
        typer.echo(f"v{version}: rebuilt byte for byte, model SHA-256 {outcome.registered_sha256[:16]}")
    else:
        rebuilt = outcome.rebuilt_sha256[:16] if outcome.rebuilt_sha256 else "not rebuilt"
        typer.echo(
            f"v{version}: NOT identical: registered {outcome.registered_sha256[:16]}, rebuilt {rebuilt}"
        )
    for difference in outcome.differences:
        typer.echo(f"  - {difference}")
    if not outcome.identical and not outcome.differences:
        typer.echo("  - no recorded input differs: the difference is in code that is not versioned")
    raise typer.Exit(ExitCode.OK if outcome.identical else 1)


app.command()(serve)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run a verb, turn any failure into one line and its exit code."""
    try:
        with _process:
            returned = app(args=argv, standalone_mode=False)  # click returns a command's exit code here
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.TyperException as usage:  # a wrong option, a missing argument, a bad value
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        typer.echo(f"error: {message}", err=True)
        return ExitCode.USAGE
    except Exception as error:
        if _debug:
            raise
        code, message = classify(error)
        typer.echo(f"error: {message}", err=True)
        return code
    return returned if isinstance(returned, int) else ExitCode.OK


def entry() -> None:  # pragma: no cover - the `driftloop` console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
