"""Per-column drift of one comparison, as driftloop reads it (never Evidently's own layout)."""

from __future__ import annotations

from driftloop.core.records import Record


class ColumnDrift(Record):
    """Drift of one column between the reference and current samples."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


class DriftSummary(Record):
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

    def to_markdown(self) -> str:
        """Markdown for a Prefect artifact: a one-line verdict, then features sorted by score.

        Returns:
            A summary line, a `column | method | score | threshold | drifted` table sorted by score
            (highest first), and a line on the prediction column when there is one.
        """
        lines = [
            f"**{len(self.drifted_features)} of {len(self.features)} features drifted "
            f"({percent(self.drift_share)})** — reference {self.reference_rows} rows, "
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


def percent(x: float) -> str:
    """0.5 -> '50%', 1/3 -> '33.33%': short, but never rounds 49.9% up to the 50% it is compared with."""
    return f"{x * 100:.4g}%"
