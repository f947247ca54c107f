"""`driftloop traffic`: send the source's records of some periods to a running service, as clients would."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from deployments.cli.options import ContractOption, period_label, settings_for
from deployments.errors import UsageError

DEFAULT_URL = "http://127.0.0.1:8000"


def traffic(
    period: Annotated[str, typer.Argument(help="first period whose records are sent")],
    period_to: Annotated[str | None, typer.Argument(help="last period (default: the first)")] = None,
    url: Annotated[str, typer.Option(help="the service's address")] = DEFAULT_URL,
    rate: Annotated[
        float | None,
        typer.Option(min=0.001, help="requests per second at most; default: as fast as answers come"),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="records to send at most; default: all")] = None,
    seconds: Annotated[
        float | None, typer.Option(min=0.001, help="stop sending after this many seconds; default: never")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="records per request")] = 1,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds to wait for each answer")] = 30.0,
    json_out: Annotated[
        str | None, typer.Option("--json", help="also write the summary as JSON to this file")
    ] = None,
    contract: ContractOption = None,
) -> None:
    """Send the source's records of PERIOD (to PERIOD_TO) to the service, in time order, without the target.

    Bounded by --limit records and --seconds; paced by --rate. Ends with what was sent, answered, refused
    (by field and rule) and failed, the p50/p99 latency, and the model versions that answered. Exit 0 when
    every request got an answer (a refusal is an answer), 5 when some got none or a 5xx.
    """
    settings = settings_for(contract=contract)
    first = period_label(settings, period)
    last = period_label(settings, period_to) if period_to else first

    from driftloop.core.contract import load_contract
    from driftloop.core.periods import period_range
    from driftloop.data.sources import SourceTables
    from driftloop.online.traffic import client_records, send

    loaded = load_contract(settings.data.contract)
    try:
        periods = period_range(first, last, loaded.time.period)
    except ValueError as wrong:
        raise UsageError(str(wrong)) from None
    sources = SourceTables(loaded)
    records: list[dict[str, Any]] = []
    for label in periods:
        records += client_records(sources.read_period(label), loaded)
        if limit is not None and len(records) >= limit:
            break
    records = records[:limit] if limit is not None else records
    with typer.progressbar(length=len(records), label="sending", file=sys.stderr) as bar:
        summary = send(
            records, url, rate=rate, seconds=seconds, batch=batch, timeout=timeout, progress=bar.update
        )
    for line in summary.lines():
        typer.echo(line)
    if json_out:
        with open(json_out, "w") as out:
            json.dump(summary.model_dump(mode="json"), out, indent=2)
    if summary.failed_requests:
        raise typer.Exit(5)
