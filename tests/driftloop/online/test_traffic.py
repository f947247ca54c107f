"""Traffic bodies as a client writes them, and the answers counted by field and rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from driftloop.online.traffic import TrafficTally, client_records, pace, refused_by_rule, request_bodies
from tests.driftloop.conftest import tiny_contract


def test_records_are_in_time_order_typed_by_the_contract_without_the_target() -> None:
    contract = tiny_contract(
        {"flight": {"type": "int"}, "distance": {"type": "float"}, "carrier": {"type": "string"}},
        [{"name": "distance", "kind": "numeric"}],
    )
    rows = pd.DataFrame(
        {
            "time_hour": ["2013-06-01T12:00:00Z", "2013-06-01T10:00:00Z", None],
            "flight": [2.0, 1.0, np.nan],  # an int column pandas read as floats (it has a gap)
            "distance": [np.inf, 100.5, 7.0],
            "carrier": ["AA", None, "UA"],
            "arr_delay": [1.0, 2.0, 3.0],  # the target: a client does not know it yet
            "undeclared": [1, 2, 3],
        }
    )
    records = client_records(rows, contract)
    assert records == [
        {"time_hour": "2013-06-01T10:00:00Z", "flight": 1, "distance": 100.5, "carrier": None},
        {"time_hour": "2013-06-01T12:00:00Z", "flight": 2, "distance": None, "carrier": "AA"},
        {"time_hour": None, "flight": None, "distance": 7.0, "carrier": "UA"},
    ]
    assert type(records[0]["flight"]) is int
    bodies = list(request_bodies(records, batch=2))
    assert [count for _, count in bodies] == [2, 1]
    assert json.loads(bodies[1][0]) == {"records": [records[2]]}


def test_refusals_count_records_once_per_rule_and_a_body_problem_counts_them_all() -> None:
    body = {
        "detail": [
            {"field": "distance", "rule": "max", "record": 0},
            {"field": "distance", "rule": "max", "record": 3},
            {"field": "carrier", "rule": "pattern", "record": 3},
            {"field": "distance", "rule": "max", "record": 3},
        ]
    }
    assert refused_by_rule(body, 5) == {"distance: max": 2, "carrier: pattern": 1}
    assert refused_by_rule({"detail": [{"field": None, "rule": "size", "record": None}]}, 5) == {
        "(body): size": 5
    }


def test_the_tally_sums_answers_refusals_and_failures() -> None:
    tally = TrafficTally()
    tally.answer(10, 200, {"model_version": "v2"}, 0.010)
    tally.answer(10, 200, {"model_version": "v3"}, 0.030)
    tally.answer(10, 422, {"detail": [{"field": "distance", "rule": "max", "record": 4}]}, 0.002)
    tally.answer(10, 503, {"detail": "no model"}, 0.001)
    tally.no_answer(10, "ConnectError")
    summary = tally.summary(1.5)
    assert (summary.requests, summary.sent_records, summary.answered_records, summary.refused_records) == (
        5, 50, 20, 10,
    )  # fmt: skip
    assert (summary.failed_requests, summary.failures) == (2, {"503": 1, "ConnectError": 1})
    assert summary.versions == {"v2": 10, "v3": 10} and summary.refusals == {"distance: max": 1}
    assert (summary.p50_ms, summary.p99_ms) == (6.0, 29.4)  # of 1, 2, 10 and 30 ms: no answer, no latency
    assert summary.lines()[1] == "answered 20 records by v2: 10, v3: 10"


def test_pace_waits_only_when_ahead_of_the_rate() -> None:
    assert pace(10, 5, 0.2) == 0.3  # 5 requests sent by 0.2 s at 10/s: the 6th waits until 0.5 s
    assert pace(10, 5, 0.7) == 0.0
    assert pace(None, 1000, 0.0) == 0.0
