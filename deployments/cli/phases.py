"""The verbs of one lifecycle phase each: validate, ingest, train, score, monitor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deployments.cli.options import ContractOption, StoreOption, connect_prefect, period_label, settings_for
from deployments.errors import ExitCode


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
    settings = settings_for(contract=contract)
    from driftloop.core.contract import load_contract
    from driftloop.data.batches import cut_nonempty
    from driftloop.data.sources import read_table_file
    from driftloop.data.validation import validate_batch

    rules = load_contract(settings.data.contract)
    batch = read_table_file(file)
    if period is not None:
        batch = cut_nonempty(batch, rules, period)
    report = validate_batch(batch, rules)
    if json_report:
        json_report.write_text(report.to_json())
    typer.echo(report.message())
    raise typer.Exit(ExitCode.OK if report.passed else ExitCode.CONTRACT_VIOLATION)


def ingest(
    period: Annotated[str, typer.Argument(help="period to ingest, in the contract's period (e.g. 2013-04)")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest one period and run the data contract on it (quarantined if it fails)."""
    settings = settings_for(store, contract)
    period = period_label(settings, period)
    connect_prefect()
    from flows.ingest import ingest_flow

    version = ingest_flow(period, settings)
    typer.echo(f"{version.period}: {version.rows:,} rows, data version {version.short} passed the contract")


def train(
    as_of: Annotated[str, typer.Option(help="last period of the training window, e.g. 2013-03")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest the window, train a challenger, evaluate it against the champion and promote if better."""
    settings = settings_for(store, contract)
    as_of = period_label(settings, as_of)
    connect_prefect()
    from flows.train import train_flow

    outcome = train_flow(as_of=as_of, settings=settings)
    verdict = "promoted to champion" if outcome.promoted else "not promoted"
    typer.echo(f"v{outcome.version} (holdout AUC {outcome.holdout_auc:.4f}) {verdict}:")
    for reason in outcome.reasons:
        typer.echo(f"  - {reason}")
    if outcome.missing_periods:
        typer.echo(f"  (trained without {', '.join(outcome.missing_periods)}: no validated batch)")


def score(
    period: Annotated[str, typer.Argument(help="period to score, in the contract's period")],
    version: Annotated[int | None, typer.Option(help="model version; default the champion")] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest and gate a period, then score it with the champion and store the predictions."""
    settings = settings_for(store, contract)
    period = period_label(settings, period)
    connect_prefect()
    from flows.score import score_flow

    outcome = score_flow(period, version=version, settings=settings)
    auc = f", AUC {outcome.auc:.4f}" if outcome.auc is not None else ""
    scored_by = f"{outcome.rows:,} rows scored by v{outcome.model_version}{auc}"
    typer.echo(f"{outcome.period}: {scored_by} -> {outcome.predictions}")


def monitor(
    period: Annotated[
        str | None, typer.Argument(help="period to monitor; default the one that has just closed")
    ] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
    served: Annotated[
        bool,
        typer.Option(
            "--served",
            help="monitor what `driftloop serve` served in the period (its prediction log, outcomes joined "
            "from the contract's label source) instead of the source's batch",
        ),
    ] = False,
) -> None:
    """Every detector on the champion's period; the policy decides; a retrain emits an event."""
    settings = settings_for(store, contract)
    period = period_label(settings, period) if period else None
    connect_prefect()
    from flows.monitor import WAITING_FOR_DATA, monitor_flow

    state = monitor_flow(period, settings, served, return_state=True)
    if state.name == WAITING_FOR_DATA:  # a scheduled-style run whose period has no data yet
        typer.echo(f"{WAITING_FOR_DATA}: {state.message}")
        return
    outcome = state.result()
    verdict, decision = outcome.verdict, outcome.decision
    if verdict.served is not None:
        from driftloop.lifecycle.served import served_line

        typer.echo(served_line(verdict))
    typer.echo(
        f"{verdict.period}: {len(verdict.alarms)} alarm(s) on model v{verdict.model_version}; "
        f"{'RETRAIN' if decision.retrain else 'no retrain'} under {decision.policy.describe()}"
    )
    for alarm in verdict.alarms:
        typer.echo(f"  - {alarm.detector}: {alarm.reason}")
    if outcome.shadow is not None:  # PROMOTE_REQUIRE_LIVE_SHADOW_WIN: the live shadow comparison's decision
        typer.echo(f"Live shadow: {outcome.shadow.reason}")
    typer.echo(f"Report: {outcome.report}")
