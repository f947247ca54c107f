"""`driftloop`: the command line. Each verb is a thin call into the same flows a deployment runs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from driftloop.settings import Settings, prefect_environment
from driftloop.storage import local_root

app = typer.Typer(
    help="driftloop: an ML lifecycle on Prefect. Data contracts gate training; drift starts retraining.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="artifact store URL (path, file://… or s3://…); default from settings"),
]
ContractOption = Annotated[
    str | None, typer.Option("--contract", help="data contract YAML; default data_contracts/flights.yaml")
]


def load_settings(store: str | None = None, contract: str | None = None) -> Settings:
    """Settings from the environment, with command-line overrides applied once, here."""
    settings = Settings.load()
    if store:
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(update={"url": store})})
    if contract:
        settings = settings.model_copy(
            update={"data": settings.data.model_copy(update={"contract": contract})}
        )
    prefect_environment(settings)
    return settings


def archive_local_store(url: str) -> Path | None:
    """Move a non-empty local store to .driftloop/archive/<UTC time>/ and return where it went."""
    root = local_root(url)
    if root is None:
        return None  # remote stores are never moved; the flow refuses a non-empty registry instead
    if not (root / "registry").is_dir():
        return None
    target = (
        Path(".driftloop/archive").resolve() / f"{root.name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root, target)
    return target


@app.command()
def run(
    train_from: Annotated[str, typer.Option(help="first month of the initial training window")] = "2013-01",
    train_to: Annotated[str, typer.Option(help="last month of the initial training window")] = "2013-03",
    replay_to: Annotated[str, typer.Option(help="replay months after train_to up to this one")] = "2013-12",
    plot: Annotated[Path, typer.Option(help="where to write the timeline PNG")] = Path(
        ".driftloop/timeline.png"
    ),
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """The main job: train on the first months, then replay month by month with drift-triggered retraining.

    A replay starts from an empty registry. An earlier run's local store is moved to
    `.driftloop/archive/` first (nothing is deleted).
    """
    settings = load_settings(store, contract)
    archived = archive_local_store(settings.storage.url)
    if archived:
        typer.echo(
            f"An earlier run's store was moved to {archived}; this replay starts from an empty registry."
        )
    from driftloop.timeline import render_table
    from flows.lifecycle import lifecycle_flow

    started = time.perf_counter()
    rows = lifecycle_flow(
        train_from=train_from, train_to=train_to, replay_to=replay_to, settings=settings, plot_path=str(plot)
    )
    typer.echo("\n" + render_table(rows))
    typer.echo(f"\nTimeline plot: {plot.resolve()}")
    typer.echo(f"Finished in {time.perf_counter() - started:.0f} s. Registry: `driftloop models`.")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="a CSV or Parquet batch", exists=True, dir_okay=False)],
    contract: Annotated[
        Path, typer.Option(help="the data contract YAML", exists=True, dir_okay=False)
    ] = Path("data_contracts/flights.yaml"),
    json_report: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
    month: Annotated[
        str | None, typer.Option(help="check only this month (YYYY-MM) of a longer export, as ingest cuts it")
    ] = None,
) -> None:
    """Check a batch against a contract: exit 0 if it passes, 1 naming every broken rule if not."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from driftloop.contract import load_contract
    from driftloop.data import read_table_file, select_month
    from driftloop.validation import validate_batch

    rules = load_contract(contract)
    batch = read_table_file(file)
    if month is not None:
        batch = select_month(batch, rules, month)
    report = validate_batch(batch, rules)
    if json_report:
        json_report.write_text(report.to_json())
    typer.echo(report.message())
    raise typer.Exit(0 if report.passed else 1)


@app.command()
def ingest(
    month: Annotated[str, typer.Argument(help="month to ingest, YYYY-MM")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest one month and run the data contract on it (quarantined if it fails)."""
    settings = load_settings(store, contract)
    from driftloop.batches import ContractViolation
    from flows.ingest import ingest_flow

    try:
        version = ingest_flow(month, settings)
    except ContractViolation as violation:
        typer.echo(str(violation), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{month}: {version.rows:,} rows, data version {version.sha256[:16]} passed the contract")


@app.command()
def train(
    as_of: Annotated[str, typer.Option(help="last month of the training window, YYYY-MM")] = "2013-03",
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest the window, train a challenger, evaluate it against the champion and promote if better."""
    settings = load_settings(store, contract)
    from driftloop.modeling import window_months
    from flows.ingest import ingest_flow
    from flows.train import train_flow

    for month in window_months(as_of, settings.training.window_months):
        ingest_flow(month, settings)
    outcome = train_flow(as_of=as_of, settings=settings)
    verdict = "promoted to champion" if outcome.promoted else "not promoted"
    typer.echo(f"v{outcome.version} (holdout AUC {outcome.holdout_auc:.4f}) {verdict}:")
    for reason in outcome.reasons:
        typer.echo(f"  - {reason}")


@app.command()
def score(
    month: Annotated[str, typer.Argument(help="month to score, YYYY-MM")],
    version: Annotated[int | None, typer.Option(help="model version; default the champion")] = None,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Ingest and gate a month, then score it with the champion and store the predictions."""
    settings = load_settings(store, contract)
    from flows.ingest import ingest_flow
    from flows.score import score_flow

    ingest_flow(month, settings)
    outcome = score_flow(month, version=version, settings=settings)
    auc = f", AUC {outcome.auc:.4f}" if outcome.auc is not None else ""
    typer.echo(
        f"{month}: {outcome.rows:,} rows scored by v{outcome.model_version}{auc} -> {outcome.predictions}"
    )


@app.command()
def monitor(
    month: Annotated[str, typer.Argument(help="month to monitor, YYYY-MM")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Drift and performance of the champion on a month; emits driftloop.drift.detected on drift."""
    settings = load_settings(store, contract)
    from flows.ingest import ingest_flow
    from flows.monitor import monitor_flow

    ingest_flow(month, settings)
    outcome = monitor_flow(month, settings)
    typer.echo(f"{month}: {'DRIFT' if outcome.drifted else 'no drift'} (model v{outcome.model_version})")
    for reason in outcome.reasons:
        typer.echo(f"  - {reason}")
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
    settings = load_settings(store)
    from driftloop.registry import Registry
    from driftloop.storage import open_storage

    registry = Registry(open_storage(settings.storage.url), settings.training.model_name)
    if card is not None:
        typer.echo(registry.card(card))
        return
    if champion_at is not None:
        version = registry.champion_at(champion_at)
        typer.echo(f"v{version}" if version else "no champion at that time")
        return
    versions = registry.versions()
    champion = registry.champion()
    log = registry.promotion_log()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model": registry.model,
                    "champion": champion.version if champion else None,
                    "versions": [
                        {
                            "version": v.version,
                            "created_at": v.created_at,
                            "as_of": v.lineage.get("as_of"),
                            "holdout_auc": v.metrics["holdout"]["auc"],
                            "model_sha256": v.model_sha256,
                        }
                        for v in versions
                    ],
                    "promotion_log": [entry.__dict__ for entry in log],
                },
                indent=2,
                default=str,
            )
        )
        return
    typer.echo(
        f"Model {registry.model} in {settings.storage.url}: {len(versions)} version(s), "
        f"champion {f'v{champion.version}' if champion else 'none'}\n"
    )
    typer.echo(f"{'version':<8} {'as of':<8} {'holdout AUC':>11}  {'created (UTC)':<26} model sha256")
    for v in versions:
        mark = " *" if champion and v.version == champion.version else ""
        typer.echo(
            f"v{v.version:<7} {v.lineage.get('as_of', '-'):<8} {v.metrics['holdout']['auc']:>11.4f}  "
            f"{v.created_at[:26]:<26} {v.model_sha256[:16]}{mark}"
        )
    typer.echo("\nPromotion log:")
    for entry in log:
        previous = f"v{entry.previous_version}" if entry.previous_version else "none"
        typer.echo(
            f"  #{entry.seq} {entry.at[:19]} data {entry.data_month or '-'}: {previous} -> "
            f"v{entry.version} — {entry.reason}"
        )
    rejected = [e for e in registry.evaluations() if not e["decision"]["promote"]]
    if rejected:
        typer.echo("\nNot promoted:")
        for e in rejected:
            typer.echo(f"  v{e['version']} (as of {e['as_of']}): {'; '.join(e['decision']['reasons'])}")


def main() -> None:  # pragma: no cover - console entry for `python -m driftloop.cli`
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
