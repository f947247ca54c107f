"""Alarms say what fired with numbers that show it: a comparison never prints two numbers alike."""

from __future__ import annotations

from driftloop.lifecycle.monitoring import Alarm, ColumnCheck, DriftCheck, PerformanceCheck
from driftloop.lifecycle.monitoring.alarms import raise_alarms
from driftloop.modelling.performance import AucEstimate

FLOOR = " (holdout AUC minus the 95% interval of the holdout and of a period this size)"


def _drift(index: float = 0.5, prediction: ColumnCheck | None = None) -> DriftCheck:
    carrier = ColumnCheck(column="carrier", method="jensenshannon", score=0.05, threshold=0.027, weight=0.6,
                          drifted=True)  # fmt: skip
    return DriftCheck(
        columns=(carrier,),
        prediction=prediction,
        weighted_share=0.6,
        index=index,
        index_threshold=1.0,
        calibrated=True,
    )


def _prediction(score: float, threshold: float) -> ColumnCheck:
    return ColumnCheck(
        column="prediction", method="wasserstein", score=score, threshold=threshold, weight=1.0,
        drifted=score > threshold,
    )  # fmt: skip


def _performance(realized: float | None, floor: float = 0.6881, holdout: float = 0.7009) -> PerformanceCheck:
    return PerformanceCheck(holdout_auc=holdout, floor=floor, estimated=None, realized=realized)


def _alarms(
    drift: DriftCheck | None = None, performance: PerformanceCheck | None = None
) -> tuple[Alarm, ...]:
    return raise_alarms(drift or _drift(), performance or _performance(realized=0.72), ())


def test_prediction_drift_alike_at_two_decimals_prints_the_decimals_that_tell_it() -> None:
    [alarm] = _alarms(_drift(prediction=_prediction(0.1149, 0.1141)))
    assert alarm.detector == "drift"
    assert alarm.short == "prediction drift 0.115 > 0.114"  # was "prediction drift 0.11 > 0.11"
    assert alarm.reason == "prediction drifted: wasserstein 0.115 > 0.114"
    [clear] = _alarms(_drift(prediction=_prediction(0.1449, 0.1141)))
    assert clear.short == "prediction drift 0.14 > 0.11"  # already apart: as it always printed


def test_the_index_at_its_threshold_alarms_and_says_so() -> None:
    [alarm] = _alarms(_drift(index=1.0))
    assert alarm.reason.startswith("importance-weighted drift 1.00 >= 1.00; drifted features carry 60%")
    assert alarm.short == "drift 1.00: carrier"


def test_a_realized_auc_below_the_floor_prints_as_before_when_three_decimals_tell() -> None:
    [alarm] = _alarms(performance=_performance(realized=0.6597))
    assert alarm.short == "AUC 0.660 < 0.688"  # the golden replay's April
    assert alarm.reason == "realized AUC 0.6597 < 0.7009 - 0.0128" + FLOOR


def test_a_realized_auc_just_below_the_floor_gets_more_decimals_and_a_floor_that_adds_up() -> None:
    [alarm] = _alarms(performance=_performance(realized=0.688301, floor=0.688349, holdout=0.7))
    assert alarm.short == "AUC 0.68830 < 0.68835"  # 3 and 4 decimals print 0.688 and 0.6883 twice
    # 0.70000 - 0.01165 is the printed floor 0.68835: the subtraction on the page is the one compared
    assert alarm.reason == "realized AUC 0.68830 < 0.70000 - 0.01165" + FLOOR


def test_an_estimated_auc_below_the_floor_uses_the_same_decimals_for_its_interval() -> None:
    estimate = AucEstimate(expected=0.68801, low=0.66, high=0.71, rows=1000)
    performance = _performance(realized=None, floor=0.68829).model_copy(update={"estimated": estimate})
    [alarm] = _alarms(performance=performance)
    assert alarm.short == "est. AUC 0.6880 < 0.6883"
    assert alarm.reason == (
        "estimated AUC 0.6880 [0.6600, 0.7100] < 0.7009 - 0.0126" + FLOOR + "; labels not known yet"
    )
