"""Judge a challenger against the champion of the moment on the challenger's own holdout, and act on it.

A promotion is a compare-and-swap on the promotion log against the champion the challenger was judged
against. When another promotion came first (two trainings at once), the challenger is judged again, against
the new champion, so a model is never crowned on evidence about a champion that no longer serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from driftloop.core import faults
from driftloop.core.clock import now_utc
from driftloop.core.settings import PromotionSettings
from driftloop.data.windows import TrainingWindow
from driftloop.lifecycle.challenger import Challenger
from driftloop.modelling.features import build_features
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.promotion import PromotionDecision, decide_promotion
from driftloop.modelling.training import predict_proba
from driftloop.registry import (
    ChampionChanged,
    Evaluation,
    LoadedModel,
    ModelVersion,
    PromotionEvidence,
    Registry,
    RegistryConflict,
)

WindowLoader = Callable[[], TrainingWindow]


def evaluate_challenger(
    registry: Registry,
    challenger: Challenger,
    window: WindowLoader,
    champion: int | None,
    load: Callable[[int], LoadedModel],
    promotion: PromotionSettings,
    calibration_bins: int,
) -> Evaluation:
    """Score the champion on the challenger's holdout, apply the promotion rule and record the evaluation.

    An evaluation already recorded against the same champion is returned as it stands: a rerun decides
    nothing new and needs neither data nor a model (and a run that died before promoting promotes now).
    Against another champion the decision is made afresh and kept beside the first (which stays the
    version's decision).

    Args:
        registry: where the evaluation is recorded.
        challenger: the registered challenger with its holdout metrics.
        window: loads the window the challenger was trained on (its holdout rows); called only when
            there is a champion other than the challenger and no earlier evaluation against it.
        champion: the current champion's version, or None before the first promotion.
        load: loads a registered version's model; called only when the champion must be scored.
        promotion: the primary metric and margins.
        calibration_bins: bins of the champion's calibration table.

    Returns:
        The evaluation that holds now.
    """
    number = challenger.version.version
    earlier = registry.evaluation_against(number, champion)
    if earlier is not None:
        return earlier
    champion_metrics = None
    if champion is not None and champion != number:
        loaded, holdout = load(champion), window()
        probabilities = predict_proba(loaded.booster, build_features(holdout.holdout_frame, loaded.spec))
        champion_metrics = score_predictions(holdout.holdout_label, probabilities, calibration_bins)
    elif champion is not None:
        champion_metrics = challenger.holdout  # re-evaluating the champion itself: it cannot beat itself
    decision = decide_promotion(challenger.holdout, champion_metrics, challenger.naive, promotion)
    veto = unfair_comparison(registry.get(champion) if champion is not None else None, challenger)
    if veto is not None:
        decision = decision.refused(veto)
    evaluation = Evaluation(
        version=number,
        at=now_utc(),
        as_of=challenger.version.lineage.as_of,
        champion_version=champion,
        decision=decision,
    )
    registry.record_evaluation(evaluation)
    faults.reached("promote.judged")
    return evaluation


def unfair_comparison(champion: ModelVersion | None, challenger: Challenger) -> str | None:
    """Why champion and challenger cannot be compared on this holdout, if they cannot."""
    if champion is None:
        return None
    if champion.version == challenger.version.version:
        return f"v{champion.version} is already the champion (identical model bytes)"
    return trained_inside_holdout(
        f"v{champion.version}", champion.lineage.train_period[1], challenger.version.lineage.holdout_start
    )


def trained_inside_holdout(champion: str, champion_train_end: str, holdout_start: str) -> str | None:
    """Why a champion cannot be judged on a holdout it was trained on, if it was."""
    end, start = pd.Timestamp(champion_train_end), pd.Timestamp(holdout_start)
    if end >= start:
        return (
            f"the champion {champion} was trained on data up to {end:%Y-%m-%d}, inside "
            f"this holdout (from {start:%Y-%m-%d}): a challenger must be trained on newer data"
        )
    return None


def promote_if_better(
    registry: Registry,
    challenger: Challenger,
    decision: PromotionDecision,
    data_period: str,
    replacing: int | None,
) -> bool:
    """Apply a decision: append to the promotion log only when it says promote, and only over `replacing`.

    Raises:
        ChampionChanged: `replacing` (the champion the decision was measured against) is no longer it.
    """
    if not decision.promote:
        return False
    registry.promote(
        challenger.version.version,
        reason="; ".join(decision.reasons),
        evidence=PromotionEvidence(
            metric=decision.metric,
            challenger=decision.challenger.headline(),
            champion=decision.champion.headline() if decision.champion else None,
            naive=decision.naive.headline(),
        ),
        data_period=data_period,
        replacing=replacing,
    )
    return True


@dataclass(frozen=True)
class Judgement:
    """The evaluation that decided, and the champion it left."""

    evaluation: Evaluation  # against the champion the challenger was last judged against
    promoted: bool
    champion: int | None  # the champion after the judgement
    superseded: tuple[int | None, ...] = ()  # champions it was judged against that another promotion replaced


def judge_and_promote(
    registry: Registry,
    challenger: Challenger,
    window: WindowLoader,
    champion: int | None,
    load: Callable[[int], LoadedModel],
    promotion: PromotionSettings,
    calibration_bins: int,
    data_period: str,
    rounds: int = 10,
) -> Judgement:
    """Judge the challenger against `champion`, promote it over that champion only, judge again if it moved.

    Args:
        registry: where the evaluation and the promotion are recorded.
        challenger: the registered challenger with its holdout metrics.
        window: loads the challenger's window (its holdout rows), when a champion must be scored on it.
        champion: the champion the caller read (None: none yet).
        load: loads a registered version's model.
        promotion: the primary metric and margins.
        calibration_bins: bins of the champion's calibration table.
        data_period: the data period the decision is made on, for the promotion log.
        rounds: judgements at most, when promotions keep coming first.

    Returns:
        The last evaluation, whether it promoted, and the champion now.
    """
    superseded: list[int | None] = []
    for _ in range(rounds):
        evaluation = evaluate_challenger(
            registry, challenger, window, champion, load, promotion, calibration_bins
        )
        try:
            promoted = promote_if_better(registry, challenger, evaluation.decision, data_period, champion)
        except ChampionChanged as changed:
            superseded.append(champion)
            champion = changed.current
            continue
        after = challenger.version.version if promoted else champion
        return Judgement(
            evaluation=evaluation, promoted=promoted, champion=after, superseded=tuple(superseded)
        )
    number = challenger.version.version
    raise RegistryConflict(f"could not judge v{number}: the champion changed {rounds} times meanwhile")
