"""Served predictions as a monitored batch: cut by the records' time, outcomes joined on the unique key
(whatever form the time was written in), the join rate and refusals counted, nothing scored again."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.data.enrichment import References
from driftloop.lifecycle.monitoring import ServedSummary
from driftloop.lifecycle.report import verdict_markdown
from driftloop.lifecycle.served import (
    NothingServed,
    join_outcomes,
    served_in_period,
    served_line,
    served_period,
)
from driftloop.modelling.features import fit_feature_spec
from tests.driftloop.conftest import tiny_contract
from tests.driftloop.lifecycle.test_policy import _verdict


def _contract() -> Contract:
    return tiny_contract(
        {"carrier": {"type": "string"}, "flight": {"type": "int"}, "distance": {"type": "float"}},
        [{"name": "carrier", "kind": "categorical"}, {"name": "distance", "kind": "numeric"}],
        unique_key=["carrier", "flight", "time_hour"],
    )


def _log(times: list[str], versions: list[int], served_at: list[str]) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "record": np.zeros(n, dtype=int),
            "served_at": pd.to_datetime(served_at, utc=True),
            "model": "m",
            "model_version": versions,
            "prediction": np.linspace(0.1, 0.9, n),
            "carrier": ["AA", "UA", "AA", "B6"][:n],
            "flight": [1, 2, 3, 4][:n],
            "origin": ["JFK"] * n,
            "time_hour": times,
            "distance": [100.0] * n,
        }
    )


def test_a_prediction_belongs_to_the_period_of_its_records_time_not_when_it_was_served() -> None:
    log = _log(
        ["2013-06-30T23:00:00Z", "2013-07-01T05:00:00Z", "2013-06-02T12:00:00Z"],
        [1, 1, 1],
        ["2026-12-05T08:00:00Z"] * 3,  # a replay serving 2013 today
    )
    june = served_in_period(log, _contract(), "2013-06")  # periods cut in New York: 23:00Z is 19:00 there
    assert june["request_id"].tolist() == ["r0", "r2"]


def test_outcomes_join_on_the_key_whatever_form_the_time_was_written_in() -> None:
    log = _log(
        ["2013-06-01T10:00:00Z", "2013-06-01T11:00:00Z", "2013-06-01T12:00:00Z"],
        [1, 1, 1],
        ["2026-12-05"] * 3,
    )
    outcomes = pd.DataFrame(
        {
            "carrier": ["AA", "UA", "AA"],
            "flight": [1.0, 2.0, 3.0],  # floats on one side, ints on the other
            "time_hour": ["2013-06-01 10:00:00+00:00", "2013-06-01T07:00:00-04:00", "2013-06-01T12:00:00Z"],
            "arr_delay": [30.0, 5.0, np.nan],  # the third has no outcome yet
        }
    )
    joined = join_outcomes(log, outcomes, _contract())
    assert joined.tolist() == [30.0, 5.0, None]


def test_the_served_batch_counts_versions_labels_refusals_and_keeps_the_returned_probabilities() -> None:
    contract = _contract()
    log = _log(
        ["2013-06-01T10:00:00Z", "2013-06-01T11:00:00Z", "2013-06-01T12:00:00Z", "2013-06-01T13:00:00Z"],
        [1, 2, 2, 2],
        ["2026-12-05T08:00:00Z", "2026-12-05T08:01:00Z", "2026-12-05T08:02:00Z", "2026-12-05T08:03:00Z"],
    )
    outcomes = log[["carrier", "flight", "time_hour"]].iloc[:3].assign(arr_delay=[40.0, 40.0, 0.0])
    refusals = pd.DataFrame(
        {
            "served_at": pd.to_datetime(
                ["2026-12-05T08:01:30Z", "2026-12-05T08:02:30Z", "2026-12-06T00:00:00Z"], utc=True
            ),
            "field": ["distance", "distance", "carrier"],
            "rule": ["max", "max", "pattern"],
            "records": [2, 1, 7],
            # the first names no time: counted in the span of the period's traffic; the third is July's
            "record_time": [None, "2013-06-01T12:00:00Z", "2013-07-01T12:00:00Z"],
        }
    )
    spec = fit_feature_spec(log.assign(arr_delay=1.0), contract)

    served = served_period(
        log, contract, "2013-06", model="m", version=2, spec=spec,
        references=References(contract, {}), outcomes=outcomes, refusals=refusals,
    )  # fmt: skip

    summary = served.summary
    assert (summary.predictions, summary.by_version, summary.monitored, summary.labelled) == (
        4, {"v1": 1, "v2": 3}, 3, 2,
    )  # fmt: skip
    assert summary.join_rate == pytest.approx(2 / 3)
    assert (summary.refused_records, summary.refusals) == (3, {"distance: max": 3})
    np.testing.assert_array_equal(served.scored.prediction, log["prediction"].to_numpy()[1:])
    assert served.scored.batch.label.tolist()[:2] == [1.0, 0.0] and np.isnan(
        served.scored.batch.label.iloc[2]
    )
    with pytest.raises(NothingServed, match=r"v3 served no prediction \(the log: 1 by v1, 3 by v2\)"):
        served_period(
            log, contract, "2013-06", model="m", version=3, spec=spec,
            references=References(contract, {}), outcomes=outcomes, refusals=refusals,
        )  # fmt: skip


def test_the_shadow_is_compared_with_the_champion_where_both_predicted_and_the_outcome_arrived() -> None:
    contract = _contract()
    n = 8
    log = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "record": np.zeros(n, dtype=int),
            "served_at": pd.to_datetime(["2026-12-05T08:00:00Z"] * n, utc=True),
            "model": "m",
            "model_version": [2, 2, 2, 2, 2, 2, 2, 1],
            "prediction": [0.2, 0.6, 0.7, 0.3, 0.5, 0.9, 0.1, 0.4],
            # v3 scored r0-r4 (r4's outcome has not arrived), nothing scored r5, an older shadow r6;
            # r7 was served by another version: not monitored
            "shadow_version": pd.array([3, 3, 3, 3, 3, None, 2, 3], dtype="Int64"),
            "shadow_prediction": [0.9, 0.1, 0.8, 0.2, 0.5, np.nan, 0.95, 0.7],
            "carrier": ["AA"] * n,
            "flight": list(range(n)),
            "origin": ["JFK"] * n,
            "time_hour": [f"2013-06-01T{10 + i}:00:00Z" for i in range(n)],
            "distance": [100.0] * n,
        }
    )
    arrived = [0, 1, 2, 3, 5, 6, 7]
    outcomes = (
        log[["carrier", "flight", "time_hour"]]
        .iloc[arrived]
        .assign(arr_delay=[40.0, 0.0, 40.0, 0.0, 40.0, 0.0, 40.0])
    )
    spec = fit_feature_spec(log.assign(arr_delay=1.0), contract)

    served = served_period(
        log, contract, "2013-06", model="m", version=2, spec=spec,
        references=References(contract, {}), outcomes=outcomes, refusals=pd.DataFrame(),
    )  # fmt: skip

    summary = served.summary
    # labels of r0-r3: 1, 0, 1, 0. The shadow ranks them perfectly; the champion wins 2 of the 4 pairs.
    assert (summary.shadow_version, summary.shadow_predictions, summary.shadow_rows) == (3, 5, 4)
    assert (summary.shadow_auc, summary.champion_auc_on_shadow_rows) == (1.0, 0.5)
    assert summary.labelled == 6  # every monitored prediction whose outcome arrived, shadowed or not
    np.testing.assert_array_equal(served.scored.prediction, log["prediction"].to_numpy()[:7])
    verdict = _verdict().model_copy(update={"served": summary, "period": "2013-06", "model_version": 2})
    assert "shadow v3: AUC 1.000 vs the champion's 0.500 on 4 labelled rows" in served_line(verdict)
    markdown = verdict_markdown(verdict)
    assert "**Shadow** v3 scored 5 of the monitored predictions" in markdown
    assert "| champion v2 | 0.5000 |" in markdown and "| shadow v3 | 1.0000 |" in markdown
    # A log without shadow columns (written before shadows were logged), and a verdict stored before
    # shadows were compared: no shadow.
    plain = served_period(
        log.drop(columns=["shadow_version", "shadow_prediction"]), contract, "2013-06", model="m",
        version=2, spec=spec, references=References(contract, {}), outcomes=outcomes,
        refusals=pd.DataFrame(),
    ).summary  # fmt: skip
    assert (plain.shadow_version, plain.shadow_rows, plain.shadow_auc) == (None, 0, None)
    stored = json.loads(summary.to_json())
    for name in ("shadow_version", "shadow_predictions", "shadow_rows", "shadow_auc",
                 "champion_auc_on_shadow_rows"):  # fmt: skip
        del stored[name]
    assert ServedSummary.from_json(json.dumps(stored)) == plain
    assert "shadow" not in served_line(verdict.model_copy(update={"served": plain}))
