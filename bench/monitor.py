"""What one monitoring check costs on a period of about 1M rows, against the bare Evidently call.

    .venv/bin/python bench/monitor.py [--rows 1000000] [--json PATH]

A model is trained on January-March 2013 (as the main job's first model). The period is April-December
2013 repeated until it holds `--rows` rows, enriched and scored once (scoring is not part of the check).
Then, timed separately, in one process:
- **driftloop**: `driftloop.lifecycle.monitoring.assess` with the HTML report: the fixed-seed sample,
  Evidently's report, the calibrated and importance-weighted drift, breakage counts on every row,
  attribution drift on 2,000 rows, and the AUC estimate with its interval;
- **bare**: Evidently's `Report` with the same `ValueDrift` metrics on the same two samples, and its HTML.

The check stays within budget because the statistics run on `DriftSettings.sample_rows` rows per side
(20,000, seed 7; the verdict says so): only the breakage counts and the estimate touch more rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from driftloop.core.contract import load_contract
from driftloop.core.sampling import sample_rows
from driftloop.core.settings import DriftSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import DataVersion, ingest_period
from driftloop.data.sources import SourceTables
from driftloop.data.windows import load_window, resolve_windows
from driftloop.lifecycle.challenger import build_candidate
from driftloop.lifecycle.monitoring import assess, candidate_model
from driftloop.lifecycle.scoring import EnrichedBatch, enrich_batch, score_batch
from driftloop.modelling.drift import compute_drift
from driftloop.modelling.training import PREDICTION_COLUMN

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the monitored period")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    import tempfile

    contract = load_contract(REPO / "data_contracts" / "flights.yaml")
    sources = SourceTables(contract)
    training, drift = TrainingSettings(), DriftSettings()
    with tempfile.TemporaryDirectory() as folder:
        storage = LocalStorage(folder)
        first = ["2013-01", "2013-02", "2013-03"]
        versions = [ingest_period(storage, contract, sources.read_period(p), p) for p in first]
        window = load_window(
            storage, contract, first, versions, sources.references(), resolve_windows(contract, training)
        )
        candidate = build_candidate(window, contract, training, drift)
    later = sources.main().loc[sources.labels() >= "2013-04"]
    copies = -(-args.rows // len(later))
    period = pd.concat([later] * copies, ignore_index=True).iloc[: args.rows]
    frame = enrich_batch(
        DataVersion(dataset="flights", period="bench", sha256="0" * 64, key="bench", rows=len(period)),
        period,
        contract,
        sources.references(),
    )
    batch = EnrichedBatch(version=frame.version, frame=frame.frame, label=frame.label)
    scored = score_batch(batch, candidate.booster, candidate.trained.spec, 0)
    model = candidate_model(candidate, name="truth")

    started = time.perf_counter()
    verdict = assess("flights", model, scored, drift, labels_known=True, html=True).verdict
    driftloop_seconds = time.perf_counter() - started

    current = scored.features.assign(**{PREDICTION_COLUMN: scored.prediction})
    started = time.perf_counter()
    sampled = sample_rows(current, drift.sample_rows, drift.sample_seed)
    compute_drift(
        candidate.reference,
        sampled,
        numeric=candidate.trained.spec.numeric,
        categorical=candidate.trained.spec.categorical,
        prediction=PREDICTION_COLUMN,
        column_threshold=drift.column_threshold,
        html=True,
    )
    bare_seconds = time.perf_counter() - started

    numbers = {
        "rows": len(scored.prediction),
        "sampled_rows": verdict.sampled_rows,
        "driftloop_seconds": round(driftloop_seconds, 2),
        "bare_evidently_seconds": round(bare_seconds, 2),
        "ratio": round(driftloop_seconds / bare_seconds, 2),
        "seconds_per_million_rows": round(driftloop_seconds / len(scored.prediction) * 1e6, 2),
        "alarms": [alarm.short for alarm in verdict.alarms],
    }
    print(
        f"monitoring check on {numbers['rows']:,} rows (statistics on {numbers['sampled_rows']:,} sampled): "
        f"driftloop {driftloop_seconds:.2f} s, bare Evidently {bare_seconds:.2f} s, "
        f"ratio {numbers['ratio']:.2f}; {numbers['seconds_per_million_rows']:.2f} s per 1M rows"
    )
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
