"""The verbs that read the registry: `models` (versions, champion, cards) and `reproduce` (rebuild one)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from deployments.cli.options import ContractOption, StoreOption, settings_for
from deployments.errors import ExitCode

if TYPE_CHECKING:
    from driftloop.core.settings import Settings
    from driftloop.registry import Registry


def open_registry(settings: Settings) -> Registry:
    """The registry alone, as `open_runtime` opens it: `models` reads JSON, so it opens no runtime (whose
    source tables and caches bring pandas)."""
    from driftloop.core.contract import load_contract
    from driftloop.core.settings import S3Settings
    from driftloop.core.storage import ObservedStorage, open_storage
    from driftloop.registry import Registry

    s3 = S3Settings() if settings.storage.url.startswith("s3://") else None
    storage = ObservedStorage(open_storage(settings.storage.url, s3))
    return Registry(storage, settings.training.model_name or load_contract(settings.data.contract).model_name)


def models(
    card: Annotated[int | None, typer.Option(help="print the model card of this version")] = None,
    champion_at: Annotated[
        str | None, typer.Option(help="which version was champion at this time (ISO-8601, UTC if no zone)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="read every file back; exit 3 naming each problem found")
    ] = False,
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """The registry: versions, the champion, the promotion log (and model cards)."""
    from deployments.cli.listing import registry_json, registry_text

    registry = open_registry(settings_for(store, contract))
    if check:
        _check(registry)
    elif card is not None:
        typer.echo(registry.card(card))
    elif champion_at is not None:
        version = registry.champion_at(champion_at)
        typer.echo(f"v{version}" if version else "no champion at that time")
    else:
        typer.echo(json.dumps(registry_json(registry), indent=2) if as_json else registry_text(registry))


def _check(registry: Registry) -> None:
    from driftloop.registry.check import check_registry

    found = check_registry(registry)
    champion = f"champion v{found.champion}" if found.champion is not None else "no champion"
    where = f"{registry.model} in {registry.storage.url}"
    if found.ok:
        counts = f"{found.versions} versions, {found.promotions} promotions"
        typer.echo(f"{where} checks out: {counts}, {champion}")
        return
    typer.echo(f"{where}: {len(found.problems)} problem(s)")
    for problem in found.problems:
        typer.echo(f"  - {problem}")
    raise typer.Exit(ExitCode.UNREADABLE_INPUT)


def reproduce(
    version: Annotated[int, typer.Argument(help="the registered version to rebuild")],
    store: StoreOption = None,
    contract: ContractOption = None,
) -> None:
    """Rebuild a registered model from its lineage; exit 0 if the SHA-256 matches, 1 naming what differs."""
    from driftloop.lifecycle.reproduce import reproduce_version
    from driftloop.lifecycle.runtime import open_runtime

    runtime = open_runtime(settings_for(store, contract))
    cluster = runtime.cluster if runtime.settings.dask.address else None  # a Dask model needs its cluster
    outcome = reproduce_version(runtime.registry, version, runtime.contract, cluster)
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
