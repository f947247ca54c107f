"""After the gate: join the reference tables and derive the label, as the contract describes."""

from __future__ import annotations

import pandas as pd

from driftloop.contract import Contract


def enrich(batch: pd.DataFrame, contract: Contract, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Left-join the reference tables after the gate; a miss is a missing feature, never a lost row."""
    out = batch
    for join in contract.joins:
        table = tables[join.table]
        columns = table[[*join.using, *join.columns]].drop_duplicates(subset=join.using, keep="last")
        columns = columns.rename(columns=join.columns)
        clashes = [name for name in join.columns.values() if name in out.columns]
        if clashes:
            raise ValueError(f"join with {join.table!r} would overwrite batch columns {clashes}")
        out = out.merge(columns, on=join.using, how="left", validate="many_to_one")
    if len(out) != len(batch):
        raise AssertionError("a join changed the number of rows")
    return out


def labels(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    """The binary label as float (1.0/0.0), NaN where the outcome is unknown (e.g. cancelled flights)."""
    target = contract.target
    values = pd.to_numeric(frame[target.column], errors="coerce")
    label = (values > target.positive_above) if target.positive_above is not None else values.astype(bool)
    return label.astype(float).where(values.notna())
