"""Monitoring what the service served: a period of the prediction log as a scored batch, labels joined.

A served prediction belongs to the period of its record's time column (event time), as a batch row does:
the same rows, periods, labels and reference as batch monitoring, whenever they were served. A replay that
sends 2013's flights today is then monitored as 2013, and in production, where a record is served as it
happens, event time and serving time name the same period. The log is read from the period's start on (a
record cannot be served before its time). A refused request is in the period of the first time its records
name; one that names none (a body that is not JSON, no readable time) is counted over the span in which the
period's predictions were served.

The probabilities are taken as they were returned, never scored again; the inputs are featurized with the
serving model's own spec (the features drift is measured on). Outcomes come from the contract's label source
(`target.labels`, default: the source's own rows of the period), joined on `unique_key`; a prediction whose
outcome has not arrived keeps a missing label, and the AUC is estimated until enough arrive.

When a shadow challenger scored the requests too (the log's `shadow_version`, `shadow_prediction`), the two
are compared where both predicted and the outcome arrived: the shadow's AUC and the champion's on the same
rows (`shadow_comparison`), what a live promotion decides on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftloop.core import layout
from driftloop.core.comparisons import comparison_digits
from driftloop.core.contract import Contract
from driftloop.core.hashing import sha256_hex
from driftloop.core.times import local_times, period_of
from driftloop.data.batches import DataVersion
from driftloop.data.enrichment import References, labels
from driftloop.lifecycle.monitoring.verdict import MonitoringVerdict, ServedSummary
from driftloop.lifecycle.scoring import EnrichedBatch, ScoredBatch
from driftloop.modelling.features import FeatureSpec, build_features
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.training import PREDICTION_COLUMN

REFUSAL_COLUMNS = ("served_at", "field", "rule", "records")
SHADOW_VERSION, SHADOW_PREDICTION = "shadow_version", "shadow_prediction"  # the log's, as read back


class NothingServed(LookupError):
    """The model to monitor served no prediction in the period; the message says who did."""


@dataclass(frozen=True)
class ServedPeriod:
    """A period's served predictions as monitoring reads a batch, and what the log says about them."""

    scored: ScoredBatch
    summary: ServedSummary


def served_in_period(log: pd.DataFrame, contract: Contract, period: str) -> pd.DataFrame:
    """The logged predictions whose record's time falls in `period` (cut as batches are)."""
    if log.empty:
        return log
    inside = (period_of(log, contract.time) == period).to_numpy(dtype=bool)
    return log.loc[inside].reset_index(drop=True)


def _key_values(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The unique key in one form on both sides: times as instants, numbers as floats, the rest as text."""
    out = {}
    for key in contract.unique_key:
        values = frame[key]
        if key == contract.time.column:
            times = local_times(frame, key, contract.time.timezone, contract.time.format)
            out[key] = times.dt.tz_convert("UTC").astype("int64").where(times.notna())
        elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[key] = values.astype(float)
        else:
            out[key] = (
                values.astype(object)
                .where(values.notna(), None)
                .map(lambda value: None if value is None else str(value).strip())
            )
    return pd.DataFrame(out, index=frame.index)


def join_outcomes(served: pd.DataFrame, outcomes: pd.DataFrame, contract: Contract) -> pd.Series:
    """Each served prediction's outcome (`target.column`) from the label source, joined on `unique_key`;
    missing where it has not arrived. When the source holds a key twice, its last row is the outcome."""
    if not contract.unique_key:
        raise ValueError(
            f"contract {contract.name!r} declares no unique_key: served predictions cannot be joined with "
            "their outcomes; declare the columns that identify a record under unique_key"
        )
    column = contract.target.column
    if served.empty or outcomes.empty or column not in outcomes.columns:
        return pd.Series(np.nan, index=served.index, dtype=object)
    known = outcomes.loc[outcomes[column].notna()]
    table = _key_values(known, contract)
    table[column] = known[column].to_numpy()
    table = table.dropna(subset=contract.unique_key).drop_duplicates(contract.unique_key, keep="last")
    keys = _key_values(served, contract)
    index = pd.MultiIndex.from_frame(table[contract.unique_key])
    found = index.get_indexer(pd.MultiIndex.from_frame(keys[contract.unique_key]))
    values = table[column].to_numpy(dtype=object)
    return pd.Series(np.where(found >= 0, values[np.maximum(found, 0)], None), index=served.index)


def _misses(frame: pd.DataFrame, references: References) -> int:
    """Predictions whose reference lookup found no row in at least one joined table."""
    missed = np.zeros(len(frame), dtype=bool)
    for lookup in references.lookups:
        missed |= lookup.rows([frame[key] for key in lookup.join.using]) < 0
    return int(missed.sum())


def _refusals(
    refusals: pd.DataFrame, served: pd.DataFrame, contract: Contract, period: str
) -> dict[str, int]:
    """Records refused in the period, by "field: rule": a refused request whose records name a time is in
    that time's period; one that names none, in the span the period's predictions were served in."""
    if refusals.empty:
        return {}
    times = (
        refusals["record_time"]
        if "record_time" in refusals.columns
        else pd.Series(None, index=refusals.index)
    )
    periods = period_of(pd.DataFrame({contract.time.column: times.astype(object)}), contract.time)
    inside = (periods == period).fillna(False).to_numpy(dtype=bool)
    if len(served):
        start, end = served["served_at"].min(), served["served_at"].max()
        timeless = periods.isna().to_numpy(dtype=bool)
        inside |= timeless & ((refusals["served_at"] >= start) & (refusals["served_at"] <= end)).to_numpy()
    during = refusals.loc[inside]
    counted = during.groupby([during["field"].fillna("(body)"), "rule"])["records"].sum()
    return {f"{field}: {rule}": int(count) for (field, rule), count in counted.sort_index().items()}


@dataclass(frozen=True)
class ShadowComparison:
    """Champion and shadow on the monitored predictions both scored whose outcome arrived."""

    version: int | None  # the newest version that shadowed the monitored predictions; None: none did
    predictions: int  # monitored predictions it scored
    rows: int  # of those, labelled: the rows both AUCs are measured on
    shadow_auc: float | None  # None without rows, or when they hold one class only
    champion_auc: float | None


def _auc(label: np.ndarray, probability: np.ndarray) -> float | None:
    """The AUC the realized performance uses (`score_predictions`); None without both classes."""
    if not len(label):
        return None
    auc = score_predictions(label, probability).auc
    return None if np.isnan(auc) else auc


def shadow_comparison(rows: pd.DataFrame, label: pd.Series) -> ShadowComparison:
    """The shadow against the champion on the champion's predictions of a period (`rows`, the log's, with
    their `label`): the newest shadow version among them, on the rows it scored whose outcome arrived.

    A log written before shadows were logged (no shadow columns) has none.
    """
    if SHADOW_VERSION not in rows.columns or SHADOW_PREDICTION not in rows.columns:
        return ShadowComparison(None, 0, 0, None, None)
    versions = pd.array(rows[SHADOW_VERSION], dtype="Int64")
    scored = ~np.isnan(rows[SHADOW_PREDICTION].to_numpy(dtype=np.float64)) & ~versions.isna()
    if not scored.any():
        return ShadowComparison(None, 0, 0, None, None)
    version = int(versions[scored].max())
    mine = scored & (versions == version).to_numpy(dtype=bool, na_value=False)
    both = mine & label.notna().to_numpy(dtype=bool)
    y = label.to_numpy(dtype=np.float64)[both]
    return ShadowComparison(
        version=version,
        predictions=int(mine.sum()),
        rows=int(both.sum()),
        shadow_auc=_auc(y, rows[SHADOW_PREDICTION].to_numpy(dtype=np.float64)[both]),
        champion_auc=_auc(y, rows[PREDICTION_COLUMN].to_numpy(dtype=np.float64)[both]),
    )


def served_period(
    log: pd.DataFrame,
    contract: Contract,
    period: str,
    *,
    model: str,
    version: int,
    spec: FeatureSpec,
    references: References,
    outcomes: pd.DataFrame,
    refusals: pd.DataFrame,
) -> ServedPeriod:
    """The period's predictions served by model `version`, as a scored batch with its labels joined.

    Args:
        log: the prediction log read from the period's start (`read_prediction_log`).
        contract: the data contract the service enforced.
        period: the period, by the records' time column.
        model: the registry name of the model (names the log).
        version: the model version to monitor (the champion).
        spec: that version's feature spec (the served inputs are featurized with it).
        references: the contract's reference tables, for the joined features and lookup misses.
        outcomes: the label source's rows (key columns and `target.column`); empty when none arrived.
        refusals: `read_refusals` over the same span (`served_at`, `field`, `rule`, `records`).

    Raises:
        NothingServed: `version` served no prediction whose record falls in `period`.
    """
    served = served_in_period(log, contract, period)
    counts = served["model_version"].astype(int).value_counts().sort_index() if len(served) else pd.Series()
    by_version = {f"v{int(v)}": int(n) for v, n in counts.items()}
    rows = served.loc[served["model_version"].astype(int) == version].reset_index(drop=True)
    if rows.empty:
        others = ", ".join(f"{n:,} by {v}" for v, n in by_version.items()) or "no prediction at all"
        raise NothingServed(f"{contract.name} {period}: v{version} served no prediction (the log: {others})")
    frame = references.enrich(rows.drop(columns=[contract.target.column], errors="ignore"))
    frame[contract.target.column] = join_outcomes(rows, outcomes, contract).to_numpy()
    label = labels(frame, contract)
    identity = pd.util.hash_pandas_object(rows[["request_id", "record", PREDICTION_COLUMN]], index=False)
    data_version = DataVersion(
        dataset=contract.name,
        period=period,
        sha256=sha256_hex(identity.to_numpy().tobytes()),
        key=layout.prediction_log_root(contract.name, model),
        rows=len(rows),
    )
    scored = ScoredBatch(
        batch=EnrichedBatch(version=data_version, frame=frame, label=label),
        model_version=version,
        features=build_features(frame, spec),
        prediction=rows[PREDICTION_COLUMN].to_numpy(dtype=np.float64),
    )
    refused = _refusals(refusals, served, contract, period)
    shadow = shadow_comparison(rows, label)
    summary = ServedSummary(
        predictions=len(served),
        by_version=by_version,
        monitored_version=version,
        labelled=int(label.notna().sum()),
        refused_records=sum(refused.values()),
        refusals=refused,
        lookup_misses=_misses(frame, references),
        shadow_version=shadow.version,
        shadow_predictions=shadow.predictions,
        shadow_rows=shadow.rows,
        shadow_auc=shadow.shadow_auc,
        champion_auc_on_shadow_rows=shadow.champion_auc,
    )
    return ServedPeriod(scored=scored, summary=summary)


def served_line(verdict: MonitoringVerdict) -> str:
    """One line on a served period: `2013-04 served: 5,000 predictions by v1, labels joined for 4,987
    (99.7%), realized AUC 0.660, drift index 0.58, 12 records refused, no alarm`."""
    served = verdict.served
    if served is None:
        raise ValueError("not a verdict on served predictions")
    others = [f"{n:,} by {v}" for v, n in served.by_version.items() if v != f"v{served.monitored_version}"]
    parts = [
        f"{verdict.period} served: {served.monitored:,} predictions by v{served.monitored_version}"
        + (f" (and {', '.join(others)})" if others else ""),
        f"labels joined for {served.labelled:,} ({served.join_rate:.1%})",
    ]
    performance = verdict.performance
    if performance.realized is not None:
        parts.append(f"realized AUC {performance.realized:.3f}")
    elif performance.estimated is not None:
        parts.append(f"estimated AUC {performance.estimated.expected:.3f} (labels not in yet)")
    parts.append(f"drift index {verdict.drift.index:.2f}")
    if served.refused_records:
        worst = max(served.refusals.items(), key=lambda item: item[1])
        parts.append(f"{served.refused_records:,} records refused (most: {worst[0]}, {worst[1]:,})")
    if served.lookup_misses:
        parts.append(f"{served.lookup_misses:,} reference lookups missed")
    shadow = shadow_text(served)
    if shadow:
        parts.append(shadow)
    parts.append("; ".join(alarm.short for alarm in verdict.alarms) or "no alarm")
    return ", ".join(parts)


def shadow_text(served: ServedSummary) -> str | None:
    """The shadow against the champion in a few words: `shadow v3: AUC 0.712 vs the champion's 0.694 on
    4,812 labelled rows`; None when nothing shadowed the monitored predictions."""
    if served.shadow_version is None:
        return None
    head = f"shadow v{served.shadow_version}"
    if served.shadow_rows == 0:
        return f"{head}: scored {served.shadow_predictions:,}, no outcome arrived for them yet"
    if served.shadow_auc is None or served.champion_auc_on_shadow_rows is None:
        return f"{head}: no AUC on its {served.shadow_rows:,} labelled rows (one class only)"
    mine, theirs = served.shadow_auc, served.champion_auc_on_shadow_rows
    digits = comparison_digits(mine, ">" if mine > theirs else "<", theirs, 3) or 3
    return (
        f"{head}: AUC {mine:.{digits}f} vs the champion's {theirs:.{digits}f} on "
        f"{served.shadow_rows:,} labelled rows"
    )
