"""Data and prediction drift: Evidently 0.7 behind one typed adapter, then the retraining decision.

`compute_drift` is the only code in driftloop that touches Evidently and its result layout; everything
else sees `DriftSummary`. Methods are fixed rather than auto-selected (Evidently's default switches
tests with sample size): numeric columns use the normed Wasserstein distance, categorical columns the
Jensen-Shannon distance, both against one `column_threshold`. Evidently is imported inside
`compute_drift` because the import takes ~3.5 s.

Sample size matters for Jensen-Shannon on high-cardinality columns: two disjoint random samples of
one month give `dest` (~100 airports) a distance of ~0.13 at 1.5k rows each, ~0.09 at 3k and ~0.04 at
13.5k, so with a 0.1 threshold sample at least ~5k rows per side (`sample_rows`).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

NUMERIC_METHOD = "wasserstein"
"""Evidently's name for the Wasserstein distance normed by the reference std (0 = same)."""
CATEGORICAL_METHOD = "jensenshannon"
"""Evidently's name for the Jensen-Shannon distance, natural log (0 = same, at most ~0.83)."""

# Evidently's default per-column test: FAIL means drift detected (score >= threshold).
_DRIFT_TEST_ID = "drift"
_DRIFTED_STATUSES = frozenset({"FAIL", "WARNING"})
_STABLE_STATUSES = frozenset({"SUCCESS"})
_SCORE_DECIMALS = 12
# A drop computed as 0.80 - 0.77 is 0.0299999…; "exactly at max_auc_drop" must still count.
_AUC_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column between the reference and current samples."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnDrift:
        """Inverse of `to_dict`; coerces types so JSON-loaded values compare equal."""
        return cls(
            column=str(data["column"]),
            method=str(data["method"]),
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            drifted=bool(data["drifted"]),
        )


@dataclass(frozen=True)
class DriftSummary:
    """Per-column drift of one comparison; what the rest of driftloop reads instead of Evidently."""

    features: tuple[ColumnDrift, ...]
    prediction: ColumnDrift | None
    reference_rows: int
    current_rows: int

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the drifted feature columns, in feature order."""
        return tuple(f.column for f in self.features if f.drifted)

    @property
    def drift_share(self) -> float:
        """Drifted features / features; 0.0 when there are no features."""
        if not self.features:
            return 0.0
        return len(self.drifted_features) / len(self.features)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; `drift_share` and `drifted_features` are included for readers, not read back.

        Returns:
            A dict of lists, strings, numbers and booleans that `from_dict` turns back into an equal
            summary.
        """
        return {
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction is not None else None,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drift_share": self.drift_share,
            "drifted_features": list(self.drifted_features),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftSummary:
        """Rebuild a summary written by `to_dict` (derived keys are ignored).

        Args:
            data: The output of `to_dict`, possibly after a JSON round trip.

        Returns:
            An equal `DriftSummary`.
        """
        prediction = data.get("prediction")
        return cls(
            features=tuple(ColumnDrift.from_dict(f) for f in data["features"]),
            prediction=ColumnDrift.from_dict(prediction) if prediction is not None else None,
            reference_rows=int(data["reference_rows"]),
            current_rows=int(data["current_rows"]),
        )

    def to_markdown(self) -> str:
        """Markdown for a Prefect artifact: a one-line verdict, then features sorted by score.

        Returns:
            A summary line, a `column | method | score | threshold | drifted` table sorted by score
            (highest first), and a line on the prediction column when there is one.
        """
        lines = [
            f"**{len(self.drifted_features)} of {len(self.features)} features drifted "
            f"({_percent(self.drift_share)})** — reference {self.reference_rows} rows, "
            f"current {self.current_rows} rows.",
            "",
            "| column | method | score | threshold | drifted |",
            "|---|---|---:|---:|---|",
        ]
        for f in sorted(self.features, key=lambda f: (-f.score, f.column)):
            lines.append(
                f"| {f.column} | {f.method} | {f.score:.4f} | {f.threshold:g} | "
                f"{'**yes**' if f.drifted else 'no'} |"
            )
        if self.prediction is not None:
            p = self.prediction
            lines += [
                "",
                f"Prediction `{p.column}`: {p.method} {p.score:.4f} (threshold {p.threshold:g}) — "
                f"{'**drifted**' if p.drifted else 'not drifted'}.",
            ]
        return "\n".join(lines)


@dataclass(frozen=True)
class DriftDecision:
    """Whether to retrain, and why, in sentences that carry the numbers."""

    drifted: bool
    reasons: tuple[str, ...]


def sample_rows(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Bound the rows Evidently sees (1M vs 1M rows takes minutes) without losing repeatability.

    Rows keep their original order, so Evidently's by-index plots still read as time.

    Args:
        df: The frame to sample.
        n: Maximum number of rows to keep; must be positive.
        seed: Seed of the sample; same `df`, `n`, `seed` give the same rows.

    Returns:
        `df` itself when it has at most `n` rows, else `n` rows of it chosen without replacement.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if len(df) <= n:
        return df
    positions = np.sort(np.random.default_rng(seed).choice(len(df), size=n, replace=False))
    return df.iloc[positions]


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    prediction: str | None,
    column_threshold: float,
) -> tuple[DriftSummary, str]:
    """Run Evidently on the given columns and return the typed summary plus the HTML report.

    Callers sample first (`sample_rows`): cost grows with rows. Numeric columns and the prediction
    use the normed Wasserstein distance, categorical columns Jensen-Shannon; a column drifted when its
    score is >= `column_threshold` (Evidently's own verdict is read back, so HTML and summary agree).
    Missing values are dropped per column by Evidently, so a column's null share is not compared.

    Args:
        reference: Reference rows (e.g. the champion's training window).
        current: Current rows (e.g. the month being scored).
        numeric: Numeric feature columns; may contain NaN.
        categorical: Categorical feature columns, as pandas `category` or object/strings.
        prediction: The model's numeric score column (a probability), or None.
        column_threshold: Per-column drift threshold shared by both methods.

    Returns:
        The `DriftSummary` (features in the order `numeric + categorical`) and Evidently's standalone
        HTML report (several MB: it embeds its JavaScript) as a string.

    Raises:
        ValueError: On overlapping or missing columns, empty frames, a non-numeric numeric column, or
            a column with no non-missing value on one side.
    """
    numeric_columns = [*numeric, *([prediction] if prediction is not None else [])]
    columns = [*numeric_columns, *categorical]
    _check_inputs(reference, current, numeric_columns, columns, column_threshold)

    # Evidently's UI telemetry honours DO_NOT_TRACK; reports never send anything, but keep it off.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(numerical_columns=numeric_columns, categorical_columns=list(categorical))
    methods = {c: NUMERIC_METHOD if c in numeric_columns else CATEGORICAL_METHOD for c in columns}
    metrics = {c: ValueDrift(column=c, method=methods[c], threshold=column_threshold) for c in columns}
    snapshot = Report(list(metrics.values()), include_tests=True).run(
        current_data=Dataset.from_pandas(_prepare(current, numeric_columns, categorical), definition),
        reference_data=Dataset.from_pandas(_prepare(reference, numeric_columns, categorical), definition),
    )
    drifts = {
        c: _read_value_drift(snapshot, metric.metric_id, c, methods[c], column_threshold)
        for c, metric in metrics.items()
    }
    summary = DriftSummary(
        features=tuple(drifts[c] for c in [*numeric, *categorical]),
        prediction=drifts[prediction] if prediction is not None else None,
        reference_rows=len(reference),
        current_rows=len(current),
    )
    return summary, snapshot.get_html_str(as_iframe=False)


def decide_drift(
    summary: DriftSummary,
    *,
    share_threshold: float,
    prediction_drift_triggers: bool,
    live_auc: float | None = None,
    reference_auc: float | None = None,
    max_auc_drop: float = 0.03,
) -> DriftDecision:
    """Turn a drift summary (and optionally live AUC) into a retrain/no-retrain decision.

    Three triggers, any one suffices: the drifted share of features is at least `share_threshold`;
    the prediction drifted and `prediction_drift_triggers` is on; both AUCs are known and the live
    AUC fell at least `max_auc_drop` below the reference AUC.

    Args:
        summary: The output of `compute_drift`.
        share_threshold: Share of drifted features (0-1] at which the data counts as drifted.
        prediction_drift_triggers: Whether prediction drift alone triggers.
        live_auc: AUC of the champion on labelled current data, if labels have arrived.
        reference_auc: The champion's holdout AUC.
        max_auc_drop: Largest tolerated AUC drop.

    Returns:
        A `DriftDecision` whose reasons name every trigger that fired, or, when none did, one sentence
        saying why not with the numbers.
    """
    n_drifted, n_features = len(summary.drifted_features), len(summary.features)
    share = summary.drift_share
    share_text = f"{n_drifted} of {n_features} features drifted ({_percent(share)})"
    reasons: list[str] = []
    quiet: list[str] = []

    if n_features and share >= share_threshold:
        reasons.append(f"{share_text} >= {_percent(share_threshold)} threshold")
    else:
        quiet.append(f"{share_text} < {_percent(share_threshold)} threshold")

    p = summary.prediction
    if p is None:
        quiet.append("no prediction column")
    else:
        p_text = f"prediction `{p.column}` {p.method} {p.score:.4f}"
        if p.drifted and prediction_drift_triggers:
            reasons.append(f"{p_text} >= {p.threshold:g} threshold: prediction drifted")
        elif p.drifted:
            quiet.append(f"{p_text} >= {p.threshold:g} drifted, but prediction drift does not trigger")
        else:
            quiet.append(f"{p_text} < {p.threshold:g} threshold")

    if live_auc is None or reference_auc is None:
        quiet.append("AUC not checked (live or reference AUC missing)")
    else:
        drop = reference_auc - live_auc
        auc_text = f"live AUC {live_auc:.4f} vs reference {reference_auc:.4f} (drop {drop:.4f})"
        if drop >= max_auc_drop - _AUC_TOLERANCE:
            reasons.append(f"{auc_text} >= {max_auc_drop:g} allowed drop")
        else:
            quiet.append(f"{auc_text} < {max_auc_drop:g} allowed drop")

    if reasons:
        return DriftDecision(drifted=True, reasons=tuple(reasons))
    return DriftDecision(drifted=False, reasons=("no drift trigger fired: " + "; ".join(quiet),))


def _percent(x: float) -> str:
    """0.5 -> '50%', 1/3 -> '33.33%': short, but never rounds 49.9% up to the 50% it is compared with."""
    return f"{x * 100:.4g}%"


def _check_inputs(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric_columns: list[str],
    columns: list[str],
    column_threshold: float,
) -> None:
    """Fail before the slow import with messages that name the column, not Evidently internals."""
    if len(set(columns)) != len(columns):
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError(f"columns listed more than once (numeric/categorical/prediction): {duplicates}")
    if not columns:
        raise ValueError("no columns to compare")
    if not (math.isfinite(column_threshold) and column_threshold > 0):
        raise ValueError(f"column_threshold must be a positive number, got {column_threshold}")
    for side, frame in (("reference", reference), ("current", current)):
        if frame.empty:
            raise ValueError(f"the {side} frame has no rows")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the {side} frame lacks columns {missing}")
        for c in columns:
            if c in numeric_columns and not pd.api.types.is_numeric_dtype(frame[c]):
                raise ValueError(f"{side} column {c!r} should be numeric, got dtype {frame[c].dtype}")
            if not frame[c].notna().any():
                raise ValueError(f"{side} column {c!r} has no non-missing values to compare")


def _prepare(df: pd.DataFrame, numeric_columns: list[str], categorical: list[str]) -> pd.DataFrame:
    """Plain float64 and object columns on a fresh index, the dtypes Evidently handles without surprises.

    `category` columns become object so two frames with different category sets compare by value, and
    nullable integers become float64 with NaN for missing.
    """
    data = {c: df[c].astype("float64").to_numpy() for c in numeric_columns}
    data |= {c: df[c].astype(object).to_numpy() for c in categorical}
    return pd.DataFrame(data)


def _read_value_drift(
    snapshot: Snapshot, metric_id: str, column: str, method: str, threshold: float
) -> ColumnDrift:
    """Read one `ValueDrift` result by its metric id: the score and Evidently's drift test verdict."""
    result = snapshot.metric_results[metric_id]
    tests = [t for t in result.tests if t.id == _DRIFT_TEST_ID]
    if len(tests) != 1:
        raise RuntimeError(f"Evidently returned {len(tests)} drift tests for column {column!r}, expected 1")
    status = str(getattr(tests[0].status, "value", tests[0].status))  # a str Enum today
    if status not in _DRIFTED_STATUSES | _STABLE_STATUSES:
        raise RuntimeError(f"Evidently's drift test for column {column!r} ended with status {status}")
    return ColumnDrift(
        column=column,
        method=method,
        # Evidently sums Jensen-Shannon terms in set order, so the last digits vary with PYTHONHASHSEED;
        # 12 decimals keep the summary (and its JSON) identical across runs.
        score=round(float(result.value), _SCORE_DECIMALS),
        threshold=threshold,
        drifted=status in _DRIFTED_STATUSES,
    )
