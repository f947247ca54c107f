"""The monitor scored against a stream with known truth: real rows, changed on purpose.

The targets: harmful drift (covariate, concept, breakage) alarmed in its own period in at least 90% of
cases; stationary and harmless-drift periods alarmed in at most 10%. The same stream and numbers are in
docs/monitoring.md (`bench/known_truth.py` prints them).
"""

from __future__ import annotations

import pytest

from driftloop.core.settings import DriftSettings, PolicySettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import ingest_period
from driftloop.data.sources import SourceTables
from driftloop.data.windows import load_window, resolve_windows
from driftloop.lifecycle.challenger import build_candidate
from driftloop.lifecycle.policy import backtest_policies
from driftloop.replay.truth import TruthRun, random_holdout_window, run_stream

PER_KIND, ROWS, SEED = 6, 10_000, 3


@pytest.fixture(scope="module")
def truth(flights_contract, tmp_path_factory: pytest.TempPathFactory) -> TruthRun:  # type: ignore[no-untyped-def]
    storage = LocalStorage(tmp_path_factory.mktemp("truth"))
    sources = SourceTables(flights_contract)
    periods = ["2013-01", "2013-02", "2013-03"]
    versions = [ingest_period(storage, flights_contract, sources.read_period(p), p) for p in periods]
    training, drift = TrainingSettings(), DriftSettings()
    window = load_window(
        storage,
        flights_contract,
        periods,
        versions,
        sources.references(),
        resolve_windows(flights_contract, training),
    )
    window = random_holdout_window(window, share=0.3, seed=11)
    candidate = build_candidate(window, flights_contract, training, drift)
    return run_stream(
        window, candidate, flights_contract, drift, backtest_policies(PolicySettings(), window_periods=3),
        per_kind=PER_KIND, rows=ROWS, seed=SEED,
    )  # fmt: skip


def test_the_default_policy_meets_the_targets(truth: TruthRun) -> None:
    configured = truth.rate("policy configured")
    assert configured.harmful == 3 * PER_KIND and configured.harmless == 2 * PER_KIND
    assert configured.detection_rate >= 0.9
    assert configured.false_alarm_rate <= 0.1


def test_the_monitor_alarms_on_every_harmful_period_and_no_harmless_one(truth: TruthRun) -> None:
    monitor = truth.rate("monitor (drift, performance or breakage)")
    assert monitor.detection_rate == 1.0
    assert monitor.false_alarm_rate == 0.0


def test_each_detector_sees_what_it_is_for(truth: TruthRun) -> None:
    assert truth.rate("breakage").by_kind["breakage"] == 1.0  # every collapsed or emptied column
    assert truth.rate("breakage").false_alarm_rate == 0.0
    assert truth.rate("performance").by_kind["concept drift"] == 1.0  # only labels can show a new concept
    assert truth.rate("drift").by_kind["concept drift"] == 0.0  # the inputs did not move
    assert truth.rate("drift").by_kind["harmless drift"] == 0.0  # a feature the model barely uses


def test_alarms_name_their_numbers(truth: TruthRun) -> None:
    [collapsed] = [v for p, v in zip(truth.periods, truth.verdicts, strict=True) if p.name == "breakage-00"]
    [breakage] = collapsed.breakage
    assert breakage.kind == "collapsed" and breakage.detail.startswith(f"{breakage.column}: every value is ")
    [concept] = [
        v for p, v in zip(truth.periods, truth.verdicts, strict=True) if p.name == "concept-drift-00"
    ]
    [alarm] = [a for a in concept.alarms if a.detector == "performance"]
    assert alarm.reason.startswith(f"realized AUC {concept.performance.realized:.4f} < ")
