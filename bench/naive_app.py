"""The reference the serving benchmark compares against: the FastAPI handler most tutorials show.

    DRIFTLOOP_BENCH_NAIVE_MATRIX=features.parquet uvicorn bench.naive_app:app

One request carries one row of the model's inputs, already computed (categorical levels as their codes);
the handler builds `pd.DataFrame([record])` and calls `predict_proba` on LightGBM's scikit-learn
wrapper. There is no contract, no join, no feature code, no log: less work than driftloop does. The
model is fitted at start-up on the matrix the benchmark wrote (same parameters and rounds as the
champion), since the tutorials' pickle is not an option here.
"""

from __future__ import annotations

import json
import os

import lightgbm as lgb
import pandas as pd
from fastapi import FastAPI
from pydantic import create_model

_matrix = pd.read_parquet(os.environ["DRIFTLOOP_BENCH_NAIVE_MATRIX"])
_settings = json.loads(os.environ["DRIFTLOOP_BENCH_NAIVE_MODEL"])  # params, rounds, categorical columns
_label = _matrix.pop("label")
model = lgb.LGBMClassifier(n_estimators=_settings["rounds"], **_settings["params"])
model.fit(_matrix, _label, categorical_feature=_settings["categorical"])

# The request body: one float per model input, as a tutorial declares it by hand.
Features = create_model("Features", **{name: (float | None, None) for name in _matrix.columns})  # type: ignore[call-overload]

app = FastAPI(title="naive LightGBM endpoint")


@app.post("/predict")
def predict(features: Features) -> dict[str, float]:  # type: ignore[valid-type]
    frame = pd.DataFrame([features.model_dump()], dtype=float)  # type: ignore[attr-defined]
    return {"probability": float(model.predict_proba(frame)[0, 1])}
