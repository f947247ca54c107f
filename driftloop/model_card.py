"""The model card: what a reviewer needs to trust a model, in Markdown, stored with the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from driftloop.contract import Contract
from driftloop.metrics import Metrics
from driftloop.training import TrainedModel


def _metric_row(name: str, metrics: Metrics) -> str:
    return (
        f"| {name} | {metrics.rows:,} | {metrics.positive_rate:.3f} | {metrics.auc:.4f} | "
        f"{metrics.log_loss:.4f} | {metrics.brier:.4f} | {metrics.ece:.4f} |"
    )


def example_explanations(contributions: pd.DataFrame, features: pd.DataFrame, top: int = 3) -> str:
    """Markdown explaining a few predictions, one per row of `contributions` (labelled by its index).

    Args:
        contributions: `pred_contrib` rows (features + "bias"), indexed by a human label.
        features: the model-matrix rows they explain, same index.
        top: how many of the largest contributions to show per row.

    Returns:
        One Markdown bullet per prediction.
    """
    lines = []
    for name, row in contributions.iterrows():
        terms = row.drop("bias")
        strongest = terms.reindex(terms.abs().sort_values(ascending=False, kind="stable").index)[:top]
        shown = ", ".join(f"`{f}`={features.at[name, f]} ({value:+.2f})" for f, value in strongest.items())
        probability = 1 / (1 + np.exp(-row.sum()))
        lines.append(f"- {name}: p={probability:.2f}, bias {row['bias']:+.2f}; {shown}")
    return "\n".join(lines)


def render_model_card(
    contract: Contract,
    trained: TrainedModel,
    lineage: dict[str, Any],
    holdout: Metrics,
    baseline: Metrics,
    examples: str = "",
) -> str:
    """Markdown card: purpose, lineage, metrics per fold and on the holdout, calibration, explanations.

    Args:
        contract: the data contract the model was trained under.
        trained: the trained model with CV results and importances.
        lineage: the lineage record that is also stored in the manifest.
        holdout: metrics on the recent holdout.
        baseline: the naive baseline on the same holdout.
        examples: per-prediction explanations from `example_explanations`, if any.

    Returns:
        The card's Markdown text.
    """
    header = (
        "| set | rows | positive rate | AUC | log loss | Brier | ECE |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    folds = "\n".join(
        _metric_row(f"CV fold {f.fold} ({f.valid_start[:10]}..{f.valid_end[:10]})", f.metrics)
        for f in trained.folds
    )
    calibration = "\n".join(
        f"| {b.lower:.1f}-{b.upper:.1f} | {b.rows:,} | {b.mean_predicted:.3f} | {b.observed_rate:.3f} |"
        for b in holdout.calibration
    )
    ranked = sorted(trained.gain_importance.items(), key=lambda item: -item[1])
    importance = "\n".join(
        f"| {name} | {gain:.3f} | {trained.mean_contributions.get(name, 0.0):.4f} |" for name, gain in ranked
    )
    versions = "\n".join(
        f"- {v['month']}: `{v['sha256'][:16]}` ({v['rows']:,} rows)" for v in lineage["data_versions"]
    )
    return f"""# Model card: {contract.name} — predicts `{contract.target.name}`

**Task.** Probability that `{contract.target.column}` > {contract.target.positive_above} for one
{contract.name} row. Trained with LightGBM ({trained.num_rounds} rounds, chosen by early stopping on
{len(trained.folds)} time-ordered folds), deterministic mode, seed {lineage["params"].get("seed")}.

**Intended use.** Ranking rows by delay risk and monitoring drift; not a causal model. Features known
at scheduling time only: columns the contract marks as leakage are never inputs.

## Data and lineage
- Contract: `{contract.name}` v{contract.version} (`{contract.fingerprint[:16]}`)
- Window: {", ".join(lineage["months"])}; training rows {lineage["train_rows"]:,}
  ({lineage["train_period"][0][:10]} .. {lineage["train_period"][1][:10]});
  holdout {lineage["holdout_rows"]:,} rows from {lineage["holdout_start"][:10]}
- Code: {lineage["code_version"]}, features {lineage["feature_code_version"]},
  feature spec `{lineage["feature_spec_sha256"][:16]}`
- Data versions:
{versions}

## Metrics
{header}
{folds}
{_metric_row("CV pooled out-of-fold", trained.cv_metrics)}
{_metric_row("**holdout**", holdout)}
{_metric_row("naive baseline (base rate)", baseline)}

## Calibration on the holdout
| predicted | rows | mean predicted | observed rate |
|---|---:|---:|---:|
{calibration}

## Explanations
Global: LightGBM gain importance (share of total gain) and the mean |contribution| in log-odds from
`pred_contrib` on a fixed sample. Per prediction: `driftloop.training.contributions`.

| feature | gain share | mean abs contribution |
|---|---:|---:|
{importance}

Per prediction, three holdout rows with their largest contributions (log-odds; positive raises the risk):

{examples or "- (none)"}

## Limits
- Trained on {", ".join(lineage["months"])} only: seasonality outside the window is unseen; the monitor
  compares live data with this window and retrains on drift.
- Rows with no recorded outcome (cancelled or diverted) are excluded from training and metrics.
"""
