"""The promotion rule: beat the naive baseline, then the champion by a margin, with the numbers as reasons."""

from __future__ import annotations

import numpy as np
import pytest

from driftloop.core.settings import PromotionSettings
from driftloop.modelling.metrics import Metrics
from driftloop.modelling.promotion import PromotionDecision, decide_promotion, naive_metrics


def m(auc: float, log_loss: float, brier: float = 0.2) -> Metrics:
    return Metrics(rows=1000, positive_rate=0.2, auc=auc, log_loss=log_loss, brier=brier, ece=0.01)


BASELINE = m(0.5, 0.60, 0.16)
AUC = PromotionSettings(metric="auc", min_improvement=0.002, min_auc_over_baseline=0.02)
LOG_LOSS = PromotionSettings(metric="log_loss", min_improvement=0.002, min_auc_over_baseline=0.02)


def test_no_champion_and_beats_baseline_promotes() -> None:
    decision = decide_promotion(m(0.70, 0.50), None, BASELINE, AUC)

    assert decision.promote is True
    assert decision.champion is None
    assert decision.reasons == (
        "beats the naive baseline: AUC 0.7000 (needs >= 0.5200), log loss 0.5000 vs 0.6000",
        "no champion yet",
    )


def test_fails_baseline_auc_is_refused_even_without_champion() -> None:
    decision = decide_promotion(m(0.51, 0.50), None, BASELINE, AUC)

    assert decision.promote is False
    assert decision.reasons[0].startswith("does not beat the naive baseline: AUC 0.5100 (needs >= 0.5200)")


def test_worse_log_loss_than_baseline_is_refused_despite_good_auc() -> None:
    decision = decide_promotion(m(0.70, 0.61), None, BASELINE, AUC)

    assert decision.promote is False
    assert "does not beat the naive baseline" in decision.reasons[0]
    assert "log loss 0.6100 vs 0.6000" in decision.reasons[0]


def test_beating_the_champion_by_less_than_the_margin_is_refused() -> None:
    decision = decide_promotion(m(0.7015, 0.50), m(0.7000, 0.50), BASELINE, AUC)

    assert decision.promote is False
    assert decision.reasons[1] == "does not beat the champion on auc: 0.7015 vs 0.7000 (margin 0.002)"


def test_beating_the_champion_by_more_than_the_margin_promotes() -> None:
    decision = decide_promotion(m(0.7030, 0.50), m(0.7000, 0.50), BASELINE, AUC)

    assert decision.promote is True
    assert decision.reasons[1] == "beats the champion on auc: 0.7030 vs 0.7000 (margin 0.002)"


def test_a_worse_challenger_is_refused() -> None:
    assert decide_promotion(m(0.65, 0.50), m(0.70, 0.45), BASELINE, AUC).promote is False


def test_beating_the_champion_does_not_excuse_failing_the_baseline() -> None:
    decision = decide_promotion(m(0.515, 0.59), m(0.505, 0.59), BASELINE, AUC)

    assert decision.promote is False
    assert decision.reasons[1].startswith("beats the champion")


def test_larger_margin_setting_is_respected() -> None:
    strict = AUC.model_copy(update={"min_improvement": 0.01})

    assert decide_promotion(m(0.705, 0.50), m(0.700, 0.50), BASELINE, strict).promote is False
    assert decide_promotion(m(0.711, 0.50), m(0.700, 0.50), BASELINE, strict).promote is True


def test_log_loss_as_primary_metric_prefers_lower() -> None:
    better = decide_promotion(m(0.68, 0.450), m(0.70, 0.460), BASELINE, LOG_LOSS)  # lower AUC, lower loss
    worse = decide_promotion(m(0.72, 0.470), m(0.70, 0.460), BASELINE, LOG_LOSS)  # higher AUC, higher loss
    within = decide_promotion(m(0.70, 0.459), m(0.70, 0.460), BASELINE, LOG_LOSS)

    assert better.promote is True
    assert better.reasons[1] == "beats the champion on log_loss: 0.4500 vs 0.4600 (margin 0.002)"
    assert worse.promote is False
    assert worse.reasons[1] == "does not beat the champion on log_loss: 0.4700 vs 0.4600 (margin 0.002)"
    assert within.promote is False


def test_naive_baseline_predicts_the_training_rate() -> None:
    y = np.array([0.0, 1.0, 1.0, 1.0])

    baseline = naive_metrics(y, 0.75)

    assert baseline.auc == 0.5
    assert baseline.brier == pytest.approx((0.75**2 + 3 * 0.25**2) / 4)
    assert baseline.log_loss == pytest.approx(-(np.log(0.25) + 3 * np.log(0.75)) / 4)


def test_decision_dict_round_trip() -> None:
    for champion in (None, m(0.69, 0.52)):
        decision = decide_promotion(m(0.70, 0.50), champion, BASELINE, AUC)

        again = PromotionDecision.from_json(decision.to_json())

        assert again == decision
