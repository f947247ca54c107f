"""`driftloop contract init`: a commented draft contract from a CSV/Parquet file (the Typer sub-app the main
CLI mounts as `contract`).

The inference is `driftloop.lifecycle.drafting`; this reads the options and the file, checks the draft against
the file's periods with the gate `driftloop validate` runs, writes the draft and says what is left to decide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deployments.errors import UsageError

contract_app = typer.Typer(
    help="Data contracts: draft one from a file (`init`).", no_args_is_help=True, rich_markup_mode=None
)


@contract_app.command()
def init(
    data: Annotated[str, typer.Argument(help="a CSV or Parquet file, or a quoted glob of them")],
    time_column: Annotated[str, typer.Option("--time", help="the column holding each row's event time")],
    target: Annotated[str, typer.Option("--target", help="the column the label is read from")],
    positive_above: Annotated[
        float | None, typer.Option("--positive-above", help="label = target > X (a numeric target)")
    ] = None,
    positive_value: Annotated[
        str | None, typer.Option("--positive-value", help="label = target equals V (e.g. yes, churned)")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="day, week, month, quarter or year; default: inferred from the file")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the draft here; default: standard output")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite --output when it exists")] = False,
    name: Annotated[
        str | None, typer.Option(help="the contract's name; default: from the file's name")
    ] = None,
) -> None:
    """Draft a commented data contract from a file, and say what is left to decide.

    Infers types, ranges, nulls, categories, the time column's form, the period, rows per period, a key, the
    label, the features and leak marks. Without --positive-above or --positive-value the target holds 0/1.
    """
    if output is not None and output.exists() and not force:
        raise UsageError(f"--output {output}: the file exists; pass --force to overwrite it, or name another")
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"--output {output}: there is no folder {output.parent}")
    from driftloop.core.periods import PERIOD_KINDS

    if period is not None and period not in PERIOD_KINDS:
        raise UsageError(f"--period {period}: use one of {', '.join(PERIOD_KINDS)}")
    from driftloop.data.sources import read_table_file
    from driftloop.lifecycle.drafting import (
        DraftRefused,
        DraftRequest,
        check_draft,
        draft_contract,
        render_draft,
    )

    frame = read_table_file(data)
    request = DraftRequest(
        source=data,
        time_column=time_column,
        target_column=target,
        positive_above=positive_above,
        positive_value=positive_value,
        period=period,  # type: ignore[arg-type]  # checked against PERIOD_KINDS above
        name=name,
    )
    try:
        draft = draft_contract(frame, request)
    except DraftRefused as refused:
        raise UsageError(str(refused)) from None
    check = check_draft(frame, draft.contract)
    text = render_draft(draft)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
    contract = draft.contract
    where = str(output) if output is not None else "standard output"
    lines = [
        f"Drafted contract '{contract.name}' from {data} to {where}: {draft.rows:,} rows, "
        f"{len(contract.columns)} columns, {len(contract.features)} features, {check.periods} {check.kind}s; "
        f"{check.summary()}.",
        "To decide before `driftloop run`:",
        *(f"  - {decision.text}" for decision in draft.decisions),
        *(
            f"  - {verdict.period} ({verdict.rows:,} rows) breaks it: {'; '.join(verdict.broken)}"
            for verdict in check.failed
        ),
    ]
    if check.unplaced:
        lines.append(
            f"  - {check.unplaced:,} rows have a {contract.time.column} that does not read: in no period"
        )
    contract_file = str(output) if output is not None else "CONTRACT.yaml"
    lines.append(
        f"Then: driftloop validate {data} --contract {contract_file} --period P; "
        f"DRIFTLOOP_DATA_CONTRACT={contract_file} driftloop run"
    )
    typer.echo("\n".join(lines), err=output is None)
