"""The model card: what a reviewer needs to trust a model, in Markdown, stored with the model.

Every word about the data set comes from its contract (name, description, target); nothing here knows
what the rows are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.core.contract import Contract
from driftloop.core.tables import markdown_table
from driftloop.modelling.metrics import Metrics, metric_rows
from driftloop.modelling.training import TrainedModel
from driftloop.registry import Lineage


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
        lines.append(f"- {name} probability: p={probability:.2f}, bias {row['bias']:+.2f}; {shown}")
    return "\n".join(lines)


def _label_text(contract: Contract) -> str:
    target = contract.target
    if target.positive_value is not None:
        return f"`{target.name}`: `{target.column}` is {target.positive_value!r}"
    if target.positive_above is None:
        return f"`{target.name}`: `{target.column}` is true"
    return f"`{target.name}`: `{target.column}` > {target.positive_above:g}"


def render_model_card(
    contract: Contract,
    trained: TrainedModel,
    lineage: Lineage,
    holdout: Metrics,
    naive: Metrics,
    examples: str = "",
) -> str:
    """Markdown card: purpose, lineage, metrics per fold and on the holdout, calibration, explanations.

    Args:
        contract: the data contract the model was trained under.
        trained: the trained model with CV results and importances.
        lineage: the lineage record that is also stored in the manifest.
        holdout: metrics on the recent holdout.
        naive: the naive model (the base rate for every row) on the same holdout.
        examples: per-prediction explanations from `example_explanations`, if any.

    Returns:
        The card's Markdown text.
    """
    named = [
        (f"CV fold {f.fold} ({f.valid_start[:10]}..{f.valid_end[:10]})", f.metrics) for f in trained.folds
    ]
    named += [("CV pooled out-of-fold", trained.cv_metrics), ("**holdout**", holdout)]
    named += [("naive baseline (base rate)", naive)]
    calibration = [
        {
            "predicted": f"{b.lower:.1f}-{b.upper:.1f}",
            "rows": b.rows,
            "mean predicted": round(b.mean_predicted, 3),
            "observed rate": round(b.observed_rate, 3),
        }
        for b in holdout.calibration
    ]
    importance = [
        {
            "feature": name,
            "gain share": round(gain, 3),
            "mean abs contribution": trained.mean_contributions.get(name, 0.0),
        }
        for name, gain in sorted(trained.gain_importance.items(), key=lambda item: -item[1])
    ]
    versions = "\n".join(f"- {v.period}: `{v.sha256[:16]}` ({v.rows:,} rows)" for v in lineage.data_versions)
    missing = (
        f"; no validated batch for {', '.join(lineage.missing_periods)}" if lineage.missing_periods else ""
    )
    periods = ", ".join(lineage.periods)
    leakage = [name for name, spec in contract.columns.items() if spec.role == "leakage"]
    return f"""# Model card: {contract.name} — predicts `{contract.target.name}`

**Task.** Probability of {_label_text(contract)}, for one row of {contract.name}
({contract.description or "no description in the contract"}). Trained with LightGBM
({trained.num_rounds} rounds, chosen by early stopping on {len(trained.folds)} time-ordered folds),
deterministic mode, seed {lineage.params.seed}.

**Intended use.** Ranking rows by the probability of `{contract.target.name}` and monitoring drift; not
a causal model. Columns the contract marks as leakage are never inputs
({", ".join(f"`{c}`" for c in leakage) or "none declared"}).

## Data and lineage
- Contract: `{contract.name}` v{contract.version} (`{contract.fingerprint[:16]}`)
- Window: {periods} ({contract.time.period}s){missing}; training rows {lineage.train_rows:,}
  ({lineage.train_period[0][:10]} .. {lineage.train_period[1][:10]});
  holdout {lineage.holdout_rows:,} rows from {lineage.holdout_start[:10]}
- Code: {lineage.code_version}, features {lineage.feature_code_version},
  feature spec `{lineage.feature_spec_sha256[:16]}`
- Data versions:
{versions}

## Metrics
{markdown_table(metric_rows(named))}

## Calibration on the holdout
{markdown_table(calibration)}

## Explanations
Global: LightGBM gain importance (share of total gain) and the mean |contribution| in log-odds from
`pred_contrib` on a fixed sample. Per prediction: `driftloop.modelling.training.contributions`.

{markdown_table(importance)}

Per prediction, the holdout rows with the highest, median and lowest probability, with their largest
contributions (log-odds; positive raises the probability):

{examples or "- (none)"}

## Limits
- Trained on {periods} only: seasonality outside the window is unseen; the monitor compares live data
  with this window and retrains on drift.
- Rows whose `{contract.target.column}` is missing (outcome unknown) are excluded from training and metrics.
"""
