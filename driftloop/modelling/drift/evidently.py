"""Evidently 0.7 behind one typed adapter: per-column drift scores and the HTML report.

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
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.modelling.drift.summary import ColumnDrift, DriftSummary

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


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    prediction: str | None,
    column_threshold: float,
    html: bool = True,
) -> tuple[DriftSummary, str | None]:
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
        html: render the HTML report (about a third of the cost); a backtest needs only the scores.

    Returns:
        The `DriftSummary` (features in the order `numeric + categorical`) and Evidently's standalone
        HTML report (several MB: it embeds its JavaScript) as a string, or None without `html`.

    Raises:
        ValueError: On overlapping or missing columns, empty frames, a non-numeric numeric column, or
            a column with no non-missing value on one side.
    """
    numeric_columns = [*numeric, *([prediction] if prediction is not None else [])]
    columns = [*numeric_columns, *categorical]
    _check_inputs(reference, current, numeric_columns, columns, column_threshold)

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
    return summary, snapshot.get_html_str(as_iframe=False) if html else None


def column_score(reference: pd.Series, current: pd.Series, method: str) -> float:
    """One column's drift score by the Evidently statistic its report uses, missing values dropped.

    Evidently's report runs these same functions per column; calling them directly costs milliseconds,
    which is what lets a reference be compared with its own chunks many times (drift calibration).
    """
    from evidently.legacy.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
    from evidently.legacy.core import ColumnType

    reference, current = reference.dropna(), current.dropna()
    if reference.empty or current.empty:
        raise ValueError(f"column {reference.name!r} has no non-missing values on one side")
    if method == NUMERIC_METHOD:
        result = wasserstein_stat_test(
            reference.astype("float64"), current.astype("float64"), ColumnType.Numerical, 1.0
        )
    elif method == CATEGORICAL_METHOD:
        result = jensenshannon_stat_test(
            reference.astype(object), current.astype(object), ColumnType.Categorical, 1.0
        )
    else:
        raise ValueError(f"unknown drift method {method!r}")
    return round(float(result.drift_score), _SCORE_DECIMALS)


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
