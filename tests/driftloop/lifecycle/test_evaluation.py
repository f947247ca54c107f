"""Judging a challenger: on its own holdout, against the champion of the moment, recorded, and idempotent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.core.settings import DriftSettings, PromotionSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import cut_period, sample_batch, store_batch
from driftloop.data.sources import SourceProvenance, SourceTables
from driftloop.data.windows import TrainingWindow, WindowPlan, load_window
from driftloop.lifecycle.challenger import Challenger, train_challenger
from driftloop.lifecycle.evaluation import (
    Judgement,
    evaluate_challenger,
    judge_and_promote,
    promote_if_better,
)
from driftloop.registry import ChampionChanged, LoadedModel, Registry

SETTINGS = TrainingSettings(max_rounds=40, cv_folds=2)
PLAN = WindowPlan(kind="month", train_periods=2, holdout_days=14)
SOURCE = SourceProvenance(source_fingerprint="test", reference_tables_sha256={})


@pytest.fixture(scope="module")
def setting(
    flights_table: pd.DataFrame, slice_contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Registry, dict[str, TrainingWindow]]:
    store = LocalStorage(tmp_path_factory.mktemp("store"))
    tables = SourceTables(slice_contract).references()
    months = ["2013-01", "2013-02", "2013-03"]
    versions = {
        m: store_batch(
            store, "flights", m, sample_batch(cut_period(flights_table, slice_contract, m), 0.08, 13)
        )
        for m in months
    }
    windows = {
        "2013-02": load_window(
            store, slice_contract, months[:2], [versions[m] for m in months[:2]], tables, PLAN
        ),
        "2013-03": load_window(
            store, slice_contract, months[1:], [versions[m] for m in months[1:]], tables, PLAN
        ),
    }
    return Registry(store, "flights-delay"), windows


def _train(setting: tuple[Registry, dict[str, TrainingWindow]], contract: Contract, as_of: str) -> Challenger:
    registry, windows = setting
    return train_challenger(
        registry, contract, windows[as_of], as_of, SETTINGS, DriftSettings(sample_rows=500), SOURCE
    )


def _never() -> TrainingWindow:
    raise AssertionError("the window was loaded although nothing needed it")


def _unloadable(version: int) -> LoadedModel:
    raise AssertionError(f"v{version} was loaded although nothing needed it")


def test_the_first_challenger_is_promoted_without_loading_anything(
    setting: tuple[Registry, dict[str, TrainingWindow]], slice_contract: Contract
) -> None:
    registry, _ = setting
    first = _train(setting, slice_contract, "2013-03")

    evaluation = evaluate_challenger(registry, first, _never, None, _unloadable, PromotionSettings(), 10)

    assert evaluation.decision.promote and evaluation.champion_version is None
    assert evaluation.decision.reasons[1] == "no champion yet"
    assert promote_if_better(registry, first, evaluation.decision, "2013-03", replacing=None)
    entry = registry.promotion_log()[-1]
    assert (entry.version, entry.data_period) == (first.version.version, "2013-03")
    assert entry.evidence.challenger.auc == first.holdout.auc  # type: ignore[union-attr]
    # the same evaluation again, against the same (absent) champion: as it stands, no data needed
    again = evaluate_challenger(registry, first, _never, None, _unloadable, PromotionSettings(), 10)
    assert again == evaluation


def test_a_champion_trained_inside_the_holdout_cannot_be_compared(
    setting: tuple[Registry, dict[str, TrainingWindow]], slice_contract: Contract
) -> None:
    registry, windows = setting
    older = _train(setting, slice_contract, "2013-02")  # holdout: the last 14 days of February
    champion = registry.load(registry.require_champion().version)  # trained on Feb to mid-March

    evaluation = evaluate_challenger(
        registry,
        older,
        lambda: windows["2013-02"],
        champion.version.version,
        registry.load,
        PromotionSettings(),
        10,
    )

    assert not evaluation.decision.promote
    assert evaluation.decision.reasons[0].startswith(
        f"the champion v{champion.version.version} was trained on"
    )
    assert evaluation.decision.champion is not None  # still scored on the same holdout, for the record
    assert registry.evaluation(older.version.version) == evaluation  # recorded
    # judged again against the same champion (a rerun): as recorded, with neither data nor a model loaded
    again = evaluate_challenger(
        registry, older, _never, champion.version.version, _unloadable, PromotionSettings(), 10
    )
    assert again == evaluation
    assert not promote_if_better(
        registry, older, evaluation.decision, "2013-02", replacing=champion.version.version
    )
    assert registry.require_champion().version == champion.version.version


def test_a_challenger_cannot_beat_itself(
    setting: tuple[Registry, dict[str, TrainingWindow]], slice_contract: Contract, tmp_path: Path
) -> None:
    registry, _ = setting
    champion_version = registry.require_champion()
    same = _train(setting, slice_contract, "2013-03")  # identical bytes: the same registered version
    assert same.version == champion_version
    evaluation = evaluate_challenger(
        registry, same, _never, champion_version.version, _unloadable, PromotionSettings(), 10
    )
    assert not evaluation.decision.promote
    assert (
        evaluation.decision.reasons[0]
        == f"v{champion_version.version} is already the champion (identical model bytes)"
    )


def test_two_overlapping_judgements_crown_the_newer_model_and_the_log_matches_its_evidence(
    flights_table: pd.DataFrame, slice_contract: Contract, tmp_path: Path
) -> None:
    """Two trainings both read champion v1, then both would promote. Without compare-and-swap the second
    (trained on older data) was crowned over the first, and its log entry named a champion its evidence
    never compared with. Now it is judged again against the new champion, and refused."""
    store = LocalStorage(tmp_path / "store")
    registry = Registry(store, "flights-delay")
    tables = SourceTables(slice_contract).references()
    months = ["2013-01", "2013-02", "2013-03", "2013-04"]
    stored = {
        m: store_batch(
            store, "flights", m, sample_batch(cut_period(flights_table, slice_contract, m), 0.25, 13)
        )
        for m in months
    }

    def window(first: int) -> TrainingWindow:
        pair = months[first : first + 2]
        return load_window(store, slice_contract, pair, [stored[m] for m in pair], tables, PLAN)

    windows = {"2013-02": window(0), "2013-03": window(1), "2013-04": window(2)}
    weak = TrainingSettings(max_rounds=1, num_leaves=2, cv_folds=2)  # a champion both challengers beat
    drift = DriftSettings(sample_rows=500)
    v1 = train_challenger(registry, slice_contract, windows["2013-02"], "2013-02", weak, drift, SOURCE)
    older = train_challenger(registry, slice_contract, windows["2013-03"], "2013-03", SETTINGS, drift, SOURCE)
    newer = train_challenger(registry, slice_contract, windows["2013-04"], "2013-04", SETTINGS, drift, SOURCE)
    registry.promote(v1.version.version, "first model", replacing=None)
    champion = v1.version.version  # what both trainings read when they started

    def judge(challenger: Challenger, as_of: str) -> Judgement:
        return judge_and_promote(
            registry,
            challenger,
            lambda: windows[as_of],
            champion,
            registry.load,
            PromotionSettings(),
            10,
            as_of,
        )

    first = judge(newer, "2013-04")
    second = judge(older, "2013-03")  # its evaluation overlapped: it too was judged against v1

    assert first.promoted and first.champion == newer.version.version, first.evaluation.decision.reasons
    assert not second.promoted and second.superseded == (champion,)
    assert second.evaluation.champion_version == newer.version.version  # judged again, against the winner
    assert second.evaluation.decision.reasons[0].startswith(
        f"the champion v{newer.version.version} was trained"
    )
    assert registry.require_champion().version == newer.version.version
    log = registry.promotion_log()
    assert [(entry.version, entry.previous_version) for entry in log] == [
        (v1.version.version, None),
        (newer.version.version, v1.version.version),
    ]
    newest = log[-1].evidence
    assert newest is not None and newest.champion is not None
    judged_against = registry.evaluation(newer.version.version)
    assert judged_against is not None and judged_against.champion_version == log[-1].previous_version
    assert newest.champion.auc == judged_against.decision.champion.auc  # type: ignore[union-attr]


def test_a_promotion_over_a_champion_that_moved_is_refused_by_the_registry(
    setting: tuple[Registry, dict[str, TrainingWindow]],
) -> None:
    registry, _ = setting
    current = registry.require_champion().version
    with pytest.raises(ChampionChanged, match=f"champion is now v{current}"):
        registry.promote(current, "judged against nothing", replacing=None)
    assert registry.require_champion().version == current
