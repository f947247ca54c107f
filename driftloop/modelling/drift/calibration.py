"""Drift thresholds set by the reference's own variability, one per column, instead of one fixed cut-off.

A fixed threshold (0.1 for every column) fires on any column that varies naturally from period to period
(temperature between two months), so every month of a seasonal data set looks drifted. Here the training
rows are cut into consecutive chunks in time; each chunk is compared with the rest by the same Evidently
statistic the monitor uses, and a column's threshold is `mean + k * std` of those chunk scores (never
below `floor`). A period then counts as drifted on a column only when it moved further than the training
data itself moved within its own window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.core.records import Record
from driftloop.core.sampling import FrameRows, Rows, sample_positions
from driftloop.core.settings import DriftSettings
from driftloop.modelling.drift.evidently import CATEGORICAL_METHOD, NUMERIC_METHOD, column_score


class ColumnCalibration(Record):
    """One column's chunk-vs-rest scores on the reference and the threshold they set."""

    column: str
    method: str
    chunk_scores: tuple[float, ...]
    mean: float
    std: float
    threshold: float


class DriftCalibration(Record):
    """Per-column thresholds and how they were made (stored with the model, shown in the verdict)."""

    chunks: int
    k: float
    floor: float
    sample_rows: int
    columns: tuple[ColumnCalibration, ...]

    def threshold(self, column: str) -> float | None:
        """The calibrated threshold of `column`; None when the column was not calibrated."""
        return next((c.threshold for c in self.columns if c.column == column), None)


def calibrate_drift(
    reference: pd.DataFrame | Rows,
    *,
    numeric: list[str],
    categorical: list[str],
    settings: DriftSettings,
) -> DriftCalibration:
    """Score each time-ordered chunk of `reference` against the rest and set each column's threshold.

    Args:
        reference: the model's training rows as model features (and its prediction column, listed in
            `numeric`), in time order: a frame, or `Rows` taken by position (only the sampled rows are
            ever copied, so a window of millions of rows costs a few samples' memory).
        numeric: numeric columns (Wasserstein distance normed by the reference std).
        categorical: categorical columns (Jensen-Shannon distance).
        settings: `calibration_chunks` consecutive chunks (at least 3, so a spread can be measured);
            `calibration_k`, how many standard deviations above the chunks' mean a period must move to
            count as drifted; `calibration_floor`, the smallest threshold, so a column that never moves
            does not alarm on noise; `sample_rows` sampled from a chunk and from the rest, as the monitor
            samples a period (sample noise inflates the statistic, so both sides are sized like the
            monitor's), with `sample_seed`.

    Returns:
        The calibration; a column with too few values in some chunk keeps only its other chunks' scores.
    """
    rows = FrameRows(reference) if isinstance(reference, pd.DataFrame) else reference
    chunks, k, floor = settings.calibration_chunks, settings.calibration_k, settings.calibration_floor
    sample_rows_per_side, seed = settings.sample_rows, settings.sample_seed
    if chunks < 3:
        raise ValueError(f"calibration needs at least 3 chunks, got {chunks}")
    if len(rows) < chunks * 10:
        raise ValueError(f"calibration needs at least {chunks * 10} reference rows, got {len(rows)}")
    everything = np.arange(len(rows))
    bounds = np.array_split(everything, chunks)
    scores: dict[str, list[float]] = {column: [] for column in [*numeric, *categorical]}
    for number, inside in enumerate(bounds):
        outside = np.concatenate([everything[: inside[0]], everything[inside[-1] + 1 :]])
        chunk = rows.take(inside[sample_positions(len(inside), sample_rows_per_side, seed + number)])
        rest = rows.take(outside[sample_positions(len(outside), sample_rows_per_side, seed + number)])
        for column in scores:
            if chunk[column].notna().any() and rest[column].notna().any():
                method = NUMERIC_METHOD if column in numeric else CATEGORICAL_METHOD
                scores[column].append(column_score(rest[column], chunk[column], method))
    columns = []
    for column, values in scores.items():
        mean = float(np.mean(values)) if values else 0.0
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        columns.append(
            ColumnCalibration(
                column=column,
                method=NUMERIC_METHOD if column in numeric else CATEGORICAL_METHOD,
                chunk_scores=tuple(round(v, 6) for v in values),
                mean=round(mean, 6),
                std=round(std, 6),
                threshold=round(max(mean + k * std, floor), 6),
            )
        )
    return DriftCalibration(
        chunks=chunks, k=k, floor=floor, sample_rows=sample_rows_per_side, columns=tuple(columns)
    )
