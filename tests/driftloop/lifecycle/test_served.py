"""Served predictions as a monitored batch: cut by the records' time, outcomes joined on the unique key
(whatever form the time was written in), the join rate and refusals counted, nothing scored again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.contract import Contract
from driftloop.data.enrichment import References
from driftloop.lifecycle.served import NothingServed, join_outcomes, served_in_period, served_period
from driftloop.modelling.features import fit_feature_spec
from tests.driftloop.conftest import tiny_contract


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
