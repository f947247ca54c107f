"""A draft contract from a file's rows, with its comments and what is left to decide; and the gate's verdict
on the file's periods against it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from driftloop.core.contract import (
    ColumnSpec,
    Contract,
    FeatureDecl,
    RowSpec,
    SourceSpec,
    TargetSpec,
    TimeSpec,
    WindowSpec,
)
from driftloop.core.periods import period_labels
from driftloop.core.times import local_times
from driftloop.data.batches import cut_period
from driftloop.data.enrichment import labels
from driftloop.data.validation import validate_batch
from driftloop.lifecycle.drafting.columns import (
    RANGE_MARGIN,
    as_leak,
    as_target,
    draft_column,
    null_limit,
    target_rule,
    unique_key,
)
from driftloop.lifecycle.drafting.leaks import LEAK_AUC, STRONG_AUC, find_leaks
from driftloop.lifecycle.drafting.records import (
    ColumnDraft,
    Decision,
    Draft,
    DraftCheck,
    DraftRefused,
    DraftRequest,
    LeakSuspect,
    PeriodChoice,
    PeriodVerdict,
    RowBounds,
    TimeForm,
    number_text,
)
from driftloop.lifecycle.drafting.time_column import (
    HOLDOUT_ROWS,
    ROWS_MAX_FACTOR,
    ROWS_MIN_SHARE,
    calendar_features,
    choose_period,
    draft_windows,
    finest_period,
    infer_time_form,
    row_bounds,
)

CHECKED_PERIODS = 60  # check_draft: at most this many periods, spread over the file


def draft_contract(frame: pd.DataFrame, request: DraftRequest) -> Draft:
    """Infer a commented data contract from the rows of a file.

    Args:
        frame: the file's rows, as `driftloop.data.sources.read_table_file` reads them.
        request: the file as named, the time and target columns, the label rule, optional period and name.

    Returns:
        The draft: a contract that loads, a comment per rule, and what a person must still decide.

    Raises:
        DraftRefused: a named column the file lacks, times that do not read, a label rule that does not fit.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(name) for name in frame.columns]
    for option, column in (("--time", request.time_column), ("--target", request.target_column)):
        if column not in frame.columns:
            shown = ", ".join(frame.columns[:12]) + (", ..." if len(frame.columns) > 12 else "")
            raise DraftRefused(f"{option} {column}: {request.source} has no such column (it has {shown})")
    if request.time_column == request.target_column:
        raise DraftRefused("--time and --target name the same column: the label cannot be the time")
    form = infer_time_form(frame[request.time_column], request.time_column)
    times = local_times(frame, request.time_column, form.timezone, form.format)
    period = choose_period(times, form, request.period)
    by_period = period_labels(times, period.kind)
    target = target_rule(frame[request.target_column], request)

    drafts = {name: draft_column(frame[name], by_period, period.kind) for name in frame.columns}
    drafts[request.time_column] = ColumnDraft(
        name=request.time_column,
        spec=ColumnSpec(type=form.column_type, max_null_fraction=null_limit(float(times.isna().mean()))),
        note=f"the time column: {form.written}",
    )
    drafts[request.target_column] = as_target(drafts[request.target_column])
    derived = calendar_features(times, form, period.kind, set(drafts))
    bounds = row_bounds(list(period.counts.values()))
    windows = draft_windows(period)
    first = _contract(request, form, period, target, drafts, [], derived, bounds, windows)
    screen = find_leaks(frame, drafts, labels(frame, first), times, target)
    for leak in screen.suspects:
        drafts.update((column, as_leak(drafts[column], leak)) for column in leak.columns)
    strong = {name: auc for name, auc in screen.powers.items() if drafts[name].feature and auc >= STRONG_AUC}
    for name, auc in strong.items():
        note = f"{drafts[name].note}; strong alone (AUC {auc:.2f} out of time): known before the outcome?"
        drafts[name] = drafts[name].model_copy(update={"note": note.lstrip("; ")})
    key, key_note = unique_key(frame, request.time_column, drafts)
    contract = _contract(request, form, period, target, drafts, key, derived, bounds, windows)
    evidence = _Evidence(
        form=form,
        period=period,
        bounds=bounds,
        key=key_note,
        derived=derived,
        leaks=screen.suspects,
        strong=strong,
    )
    return Draft(
        contract=contract,
        comments=_comments(evidence, frame, contract, drafts),
        header=_header(request, frame, times, form),
        decisions=tuple(_decisions(evidence, contract, drafts)),
        rows=len(frame),
    )


def _contract(
    request: DraftRequest,
    form: TimeForm,
    period: PeriodChoice,
    target: TargetSpec,
    drafts: dict[str, ColumnDraft],
    key: list[str],
    derived: list[tuple[FeatureDecl, str]],
    bounds: RowBounds,
    windows: WindowSpec,
) -> Contract:
    features = [
        FeatureDecl(name=name, kind=draft.feature)
        for name, draft in drafts.items()
        if draft.feature is not None
    ]
    features += [feature for feature, _ in derived]
    if not features:
        raise DraftRefused(
            f"no column of {request.source} can be a feature: each is the time, the target, an identifier, "
            "a leak or constant"
        )
    try:
        return Contract(
            name=request.name or _name_from(request.source),
            version=1,
            description=f"Drafted from {Path(request.source).name} by `driftloop contract init`",
            source=SourceSpec(kind="file", path=request.source),
            time=TimeSpec(
                column=request.time_column, timezone=form.timezone, period=period.kind, format=form.format
            ),
            target=target,
            unique_key=key,
            rows=RowSpec(min=bounds.min, max=bounds.max),
            columns={name: draft.spec for name, draft in drafts.items()},
            features=features,
            windows=windows,
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or '(top level)'}: {item['msg']}" for item in error.errors()
        )
        option = "--name: " if any(item["loc"][:1] == ("name",) for item in error.errors()) else ""
        raise DraftRefused(f"{option}the draft makes no valid contract: {problems}") from None


def _name_from(source: str) -> str:
    """The contract's name from the file's: `Seattle Weather.csv` -> `seattle-weather`."""
    stem = Path(source.replace("*", "")).name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return (slug if slug[:1].isalpha() else f"data-{slug}".rstrip("-"))[:63].rstrip("-")


def rule_text(target: TargetSpec) -> str:
    """The label rule in words: `precipitation > 0`."""
    if target.positive_above is not None:
        return f"{target.column} > {number_text(target.positive_above)}"
    if target.positive_value is not None:
        return f"{target.column} = {target.positive_value}"
    return f"{target.column} is 1 (true)"


@dataclass(frozen=True)
class _Evidence:
    """What the comments and the decisions quote."""

    form: TimeForm
    period: PeriodChoice
    bounds: RowBounds
    key: str
    derived: list[tuple[FeatureDecl, str]]
    leaks: tuple[LeakSuspect, ...]
    strong: dict[str, float]  # features strong alone, below the leak mark


def _header(request: DraftRequest, frame: pd.DataFrame, times: pd.Series, form: TimeForm) -> tuple[str, ...]:
    known = times.dropna()
    shown = {"year": "%Y", "quarter": "%Y-%m", "month": "%Y-%m"}.get(finest_period(form), "%Y-%m-%d")
    span = f"{known.min():{shown}}..{known.max():{shown}}" if not known.empty else "no readable time"
    return (
        f"Data contract DRAFTED by `driftloop contract init` from {request.source}",
        f"({len(frame):,} rows, {span}). Every rule was inferred from that file; its comment says from what.",
        "Settle what the command printed under 'To decide' before the first `driftloop run`.",
        f"Ranges: the observed min..max widened by {RANGE_MARGIN:.0%} of the spread, rounded outward.",
        "Null limits: the worst period's null share plus half of it.",
    )


def _comments(
    evidence: _Evidence, frame: pd.DataFrame, contract: Contract, drafts: dict[str, ColumnDraft]
) -> dict[str, str]:
    form, period, bounds, kind = evidence.form, evidence.period, evidence.bounds, evidence.period.kind
    times = int(frame[contract.time.column].nunique())
    label = labels(frame, contract)
    share = float(label.mean())
    if form.instants:
        zone = "the times carry their offset: periods are cut in this zone; set the one you report in"
    else:
        zone = "DECIDE: the times carry no offset: they are read as wall-clock times in this zone; set theirs"
    comments = {
        "source.path": "the file the draft was drawn from; a glob (data/*.parquet) reads several",
        "time.column": form.written if form.format is None else f"{times:,} distinct times",
        "time.timezone": zone,
        "time.period": period.why,
        "windows.train_periods": f"half the file's {period.span} {kind}s, at most the {kind} default",
        "windows.holdout_periods": f"~{HOLDOUT_ROWS}+ rows to judge champion and challenger on",
        "target.name": f"label: {rule_text(contract.target)}; positive in {share:.0%} of the rows",
        "unique_key": evidence.key,
        "rows.min": (
            f"{ROWS_MIN_SHARE:g} x the 10th percentile of rows per {kind} ({bounds.low:,.0f}): fewer is a "
            "partial export"
        ),
        "rows.max": (
            f"{ROWS_MAX_FACTOR:g} x the 90th percentile ({bounds.high:,.0f}): more means overlapping exports"
        ),
        "extra_columns": "a closed schema: a new upstream column is a change to review, not to absorb",
    }
    if form.format is not None:
        also = f"; every value also reads as {', '.join(form.also_reads)}: check" if form.also_reads else ""
        comments["time.format"] = f"{form.written}{also}"
    comments.update((f"columns.{name}", draft.note) for name, draft in drafts.items())
    comments.update((f"features.{feature.name}", why) for feature, why in evidence.derived)
    comments.update(
        (f"features.{name}", f"{frame[name].nunique():,} levels")
        for name, draft in drafts.items()
        if draft.feature == "categorical"
    )
    return comments


def _decisions(evidence: _Evidence, contract: Contract, drafts: dict[str, ColumnDraft]) -> list[Decision]:
    time, form = contract.time, evidence.form
    if form.instants:
        zone = f"time.timezone {time.timezone}: the times carry their offset; set the zone periods are cut in"
    else:
        zone = (
            f"time.timezone {time.timezone}: the times carry no offset and are read as wall-clock times in "
            "this zone; set the zone they were written in (e.g. America/New_York)"
        )
    decisions = [Decision(topic="timezone", text=zone)]
    if form.also_reads:
        text = f"time.format {form.format}: every value also reads as {', '.join(form.also_reads)}"
        decisions.append(Decision(topic="format", text=text))
    if evidence.period.inferred:
        decisions.append(Decision(topic="period", text=f"time.period {time.period}, {evidence.period.why}"))
    decisions += [
        Decision(
            topic="leakage",
            text=(
                f"{', '.join(leak.columns)}: role leakage, no feature ({leak.evidence}); if known before the "
                "outcome, make it a feature and list it under leakage.accepted"
            ),
        )
        for leak in evidence.leaks
    ]
    for name, auc in evidence.strong.items():
        text = f"{name}: strong alone (AUC {auc:.2f}, leak mark {LEAK_AUC:g}): known before the outcome?"
        decisions.append(Decision(topic="strong", text=text))
    key = (
        f"unique_key [{', '.join(contract.unique_key)}]: {evidence.key}"
        if contract.unique_key
        else evidence.key
    )
    decisions.append(Decision(topic="key", text=f"{key}; keep it if it is unique by design"))
    rows = contract.rows
    text = f"rows.min {rows.min:,}, rows.max {rows.max:,} per {time.period}: the real bounds of an export?"
    decisions.append(Decision(topic="rows", text=text))
    for draft in drafts.values():
        if draft.excluded is not None and draft.spec.role != "leakage":
            decisions.append(Decision(topic="excluded", text=f"{draft.name}: {draft.excluded}"))
        if draft.outlier is not None:
            decisions.append(Decision(topic="range", text=draft.outlier))
    return decisions


def check_draft(frame: pd.DataFrame, contract: Contract, most: int = CHECKED_PERIODS) -> DraftCheck:
    """The gate's verdict on each period of `frame` against `contract`, as `driftloop validate FILE --period
    P` gives it: on every period, or on `most` spread evenly over them (the first and the last among them)."""
    time = contract.time
    by_period = period_labels(local_times(frame, time.column, time.timezone, time.format), time.period)
    held = sorted(str(label) for label in by_period.dropna().unique())
    picked = held
    if len(held) > most:
        picked = [held[round(step * (len(held) - 1) / (most - 1))] for step in range(most)]
    verdicts = []
    for period in picked:
        batch = cut_period(frame, contract, period, by_period)
        failures = validate_batch(batch, contract, period).failures
        broken = tuple(f"{rule.column or '(table)'}: {rule.rule} ({rule.observed})" for rule in failures)
        verdicts.append(PeriodVerdict(period=period, rows=len(batch), broken=broken))
    return DraftCheck(
        kind=time.period, periods=len(held), verdicts=tuple(verdicts), unplaced=int(by_period.isna().sum())
    )
