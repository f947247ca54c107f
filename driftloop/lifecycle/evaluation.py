"""Judge a challenger against the champion of the moment on the challenger's own holdout, and act on it.

A promotion is a compare-and-swap on the promotion log against the champion the challenger was judged
against. When another promotion came first (two trainings at once), the challenger is judged again, against
the new champion, so a model is never crowned on evidence about a champion that no longer serves.

With `require_live_shadow_win`, a holdout win is recorded as awaiting a live shadow comparison instead of
promoting; `judge_live_shadow` settles it later, on what the service's shadow scored (the same
compare-and-swap guards that promotion).
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
from driftloop.lifecycle.monitoring import ServedSummary
from driftloop.modelling.features import build_features
from driftloop.modelling.metrics import score_predictions
from driftloop.modelling.promotion import (
    LiveShadowDecision,
    PromotionDecision,
    decide_live_shadow,
    decide_promotion,
    held_for_live_shadow,
)
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
    decision = held_for_live_shadow(decision, champion, promotion)
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
        evidence=_evidence(decision),
        data_period=data_period,
        replacing=replacing,
    )
    return True


def _evidence(decision: PromotionDecision) -> PromotionEvidence:
    """The holdout numbers a promotion log entry keeps."""
    return PromotionEvidence(
        metric=decision.metric,
        challenger=decision.challenger.headline(),
        champion=decision.champion.headline() if decision.champion else None,
        naive=decision.naive.headline(),
    )


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


def awaiting_live_shadow(registry: Registry, champion: int) -> Evaluation | None:
    """The newest challenger judged against `champion` that won on its holdout and awaits a live shadow
    comparison with it (`require_live_shadow_win`), if any."""
    newer = sorted((v.version for v in registry.versions() if v.version > champion), reverse=True)
    for number in newer:
        evaluation = registry.evaluation_against(number, champion)
        if evaluation is not None and evaluation.decision.awaiting_live_shadow:
            return evaluation
    return None


def judge_live_shadow(
    registry: Registry, served: ServedSummary, champion: int, period: str, promotion: PromotionSettings
) -> LiveShadowDecision:
    """Promote the challenger awaiting a live shadow comparison when it won on the served rows of `period`.

    Args:
        registry: where the held challenger's evaluation is read and the promotion recorded.
        served: what monitoring read from the prediction log: the shadow against the champion.
        champion: the champion whose served predictions were monitored; the promotion happens only while
            it is still the champion (compare-and-swap on the promotion log).
        period: the period the served rows belong to (the promotion's data period).
        promotion: the margin and the rows a live win needs.

    Returns:
        The decision and its reason, promoted or not (no challenger awaiting, another shadow served, too
        few rows, no win, or another promotion came first).
    """
    awaiting = awaiting_live_shadow(registry, champion)
    if awaiting is None:
        reason = f"no challenger awaits a live shadow comparison with the champion v{champion}"
        return LiveShadowDecision(
            promote=False, reason=reason, challenger=None, champion=champion, period=period
        )
    number = awaiting.version
    if served.shadow_version != number:
        seen = (
            f"shadowed by v{served.shadow_version}" if served.shadow_version is not None else "not shadowed"
        )
        reason = (
            f"not promoted: v{number} awaits a live shadow comparison, but the champion v{champion}'s "
            f"predictions of {period} were {seen} (the service shadows the newest version registered after "
            "the champion, with DRIFTLOOP_SERVE_SHADOW=true)"
        )
        return LiveShadowDecision(
            promote=False, reason=reason, challenger=number, champion=champion, period=period
        )
    decision = decide_live_shadow(
        number,
        champion,
        period,
        served.shadow_rows,
        served.shadow_auc,
        served.champion_auc_on_shadow_rows,
        promotion,
    )
    if not decision.promote:
        return decision
    try:
        registry.promote(
            number,
            reason=decision.reason,
            evidence=_evidence(awaiting.decision),  # the holdout's numbers, beside the live reason
            data_period=period,
            replacing=champion,
        )
    except ChampionChanged as changed:
        if changed.current == number:  # a retry after this very promotion was logged
            return decision
        now = f"v{changed.current}" if changed.current is not None else "none"
        reason = f"not promoted: {decision.reason}, but the champion changed meanwhile (now {now})"
        return decision.model_copy(update={"promote": False, "reason": reason})
    return decision
