"""`require_live_shadow_win`: a holdout win alone does not promote; a win on enough labelled served rows
where the challenger shadowed the champion does, through the registry's guarded promotion, and says why
either way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftloop.core.clock import now_utc
from driftloop.core.contract import Contract
from driftloop.core.settings import PromotionSettings, TrainingSettings
from driftloop.core.storage import LocalStorage
from driftloop.data.sources import SourceTables
from driftloop.data.windows import TrainingWindow, load_window, resolve_windows
from driftloop.lifecycle.challenger import Challenger
from driftloop.lifecycle.evaluation import judge_and_promote, judge_live_shadow
from driftloop.lifecycle.monitoring import ServedSummary
from driftloop.modelling.promotion import decide_promotion, held_for_live_shadow
from driftloop.registry import Evaluation, Registry
from tests.conftest import TrainedStore
from tests.driftloop.online.test_shadow_slot import copy_of

LIVE = PromotionSettings(require_live_shadow_win=True)


@pytest.fixture()
def registry(trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path) -> Registry:
    """A copy of the trained store: v1 the champion, v2 registered after it and not judged yet."""
    store = Path(shutil.copytree(trained_store.path, tmp_path / "store"))
    registry = Registry(LocalStorage(store), slice_contract.model_name)
    registry.promote(1, reason="first champion")
    return registry


def challenger(registry: Registry, version: int) -> Challenger:
    manifest = registry.get(version)
    return Challenger(version=manifest, holdout=manifest.metrics.holdout, naive=manifest.metrics.naive)


def hold_v2(registry: Registry) -> Evaluation:
    """v2's evaluation against v1 as training records it under the setting: won on the holdout, held."""
    v2 = challenger(registry, 2)
    champion = v2.holdout.model_copy(update={"auc": v2.holdout.auc - 0.05})  # v1 scored lower on it
    decision = held_for_live_shadow(decide_promotion(v2.holdout, champion, v2.naive, LIVE), 1, LIVE)
    evaluation = Evaluation(version=2, at=now_utc(), as_of="2013-05", champion_version=1, decision=decision)
    registry.record_evaluation(evaluation)
    return evaluation


def served(
    shadow: int | None, rows: int, shadow_auc: float | None, champion_auc: float | None
) -> ServedSummary:
    return ServedSummary(
        predictions=rows + 200, by_version={"v1": rows + 200}, monitored_version=1, labelled=rows,
        refused_records=0, refusals={}, lookup_misses=0, shadow_version=shadow, shadow_predictions=rows + 200,
        shadow_rows=rows, shadow_auc=shadow_auc, champion_auc_on_shadow_rows=champion_auc,
    )  # fmt: skip


def test_a_holdout_win_alone_does_not_promote_it_awaits_the_live_comparison(
    registry: Registry, slice_contract: Contract
) -> None:
    lineage = registry.get(2).lineage
    plan = resolve_windows(slice_contract, TrainingSettings(max_rounds=60, cv_folds=3, num_threads=2))
    references = SourceTables(slice_contract).references()

    def window() -> TrainingWindow:
        periods, versions = list(lineage.periods), list(lineage.data_versions)
        return load_window(registry.storage, slice_contract, periods, versions, references, plan)

    v2 = challenger(registry, 2)

    judgement = judge_and_promote(registry, v2, window, 1, registry.load, LIVE, 10, "2013-05")

    decision = judgement.evaluation.decision
    assert (judgement.promoted, judgement.champion) == (False, 1)
    assert (decision.promote, decision.awaiting_live_shadow) == (False, True)
    assert decision.reasons[1].startswith("beats the champion on auc: ")  # the holdout win, on record
    assert decision.reasons[-1] == (
        "awaiting a live shadow comparison: it won on the holdout, and is promoted once it beats the "
        "champion v1's AUC by 0.002 on at least 500 labelled served rows "
        "(DRIFTLOOP_PROMOTE_REQUIRE_LIVE_SHADOW_WIN; the service scores it as its shadow with "
        "DRIFTLOOP_SERVE_SHADOW=true, `monitor --served` compares)"
    )
    assert [entry.version for entry in registry.promotion_log()] == [1]
    assert registry.evaluation(2) == judgement.evaluation  # recorded: the monitor finds it there
    # without the setting the same decision promotes, and a first model (no champion) is never held
    unheld = decision.model_copy(update={"promote": True, "awaiting_live_shadow": False})
    assert held_for_live_shadow(unheld, 1, PromotionSettings()).promote
    assert held_for_live_shadow(unheld, None, LIVE).promote


def test_a_live_win_on_enough_rows_promotes_with_the_numbers_in_the_log(registry: Registry) -> None:
    held = hold_v2(registry)

    decision = judge_live_shadow(registry, served(2, 4812, 0.7121, 0.6943), 1, "2013-06", LIVE)

    entry = registry.promotion_log()[-1]
    assert decision.promote and (decision.challenger, decision.champion, decision.rows) == (2, 1, 4812)
    assert registry.require_champion().version == 2
    assert (entry.version, entry.previous_version, entry.data_period) == (2, 1, "2013-06")
    assert entry.reason == (
        "won on live shadow traffic: AUC 0.712 vs 0.694 on 4,812 labelled served rows "
        "(v2 shadowing the champion v1, 2013-06; margin 0.002)"
    )
    assert entry.evidence is not None and entry.evidence.challenger == held.decision.challenger.headline()
    # run again (a rerun of the same period): v2 is the champion now, nothing awaits a comparison with it
    again = judge_live_shadow(registry, served(2, 4812, 0.7121, 0.6943), 2, "2013-06", LIVE)
    assert (again.promote, again.reason) == (
        False, "no challenger awaits a live shadow comparison with the champion v2"
    )  # fmt: skip
    assert len(registry.promotion_log()) == 2


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        (
            served(2, 499, 0.80, 0.60),
            "not promoted: too few labelled served rows to compare on live shadow traffic: 499 "
            "(v2 shadowing the champion v1, 2013-06), at least 500 needed "
            "(DRIFTLOOP_PROMOTE_MIN_SHADOW_ROWS)",
        ),
        (
            served(2, 4812, 0.6955, 0.6943),
            # four decimals: at three, 0.696 would not read as less than the 0.696 it needs
            "not promoted: did not win on live shadow traffic: AUC 0.6955 vs 0.6943 on 4,812 labelled served "
            "rows (v2 shadowing the champion v1, 2013-06); it needs 0.6963 or more: the champion's plus the "
            "margin 0.002",
        ),
        (
            served(2, 600, None, None),
            "not promoted: no AUC on live shadow traffic: its 600 labelled served rows hold one class only "
            "(v2 shadowing the champion v1, 2013-06)",
        ),
        (
            served(None, 0, None, None),
            "not promoted: v2 awaits a live shadow comparison, but the champion v1's predictions of 2013-06 "
            "were not shadowed (the service shadows the newest version registered after the champion, "
            "with DRIFTLOOP_SERVE_SHADOW=true)",
        ),
    ],
    ids=["too-few-rows", "no-win", "one-class", "not-shadowed"],
)
def test_no_live_win_no_promotion_and_the_reason_says_why(
    registry: Registry, summary: ServedSummary, reason: str
) -> None:
    hold_v2(registry)

    decision = judge_live_shadow(registry, summary, 1, "2013-06", LIVE)

    assert (decision.promote, decision.reason) == (False, reason)
    assert [entry.version for entry in registry.promotion_log()] == [1]


def test_a_live_win_over_a_champion_replaced_meanwhile_does_not_promote(registry: Registry) -> None:
    hold_v2(registry)
    third = copy_of(registry, 1)
    registry.promote(third, reason="another promotion came first")

    decision = judge_live_shadow(registry, served(2, 4812, 0.7121, 0.6943), 1, "2013-06", LIVE)

    assert not decision.promote and decision.reason.endswith("but the champion changed meanwhile (now v3)")
    assert registry.require_champion().version == third
