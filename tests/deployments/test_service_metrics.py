"""GET /metrics of a real `driftloop serve`: exact counts after known requests, with one worker and two.

/metrics is read with prometheus-client's own parser. With two workers, the counts of both add up (and
match each worker's own /stats), whichever worker answers the scrape; a killed worker's counts stay in
the totals, and its share of the serving gauge leaves with it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from driftloop.core.contract import Contract
from driftloop.data.batches import cut_period
from driftloop.data.enrichment import References
from driftloop.data.sources import SourceTables
from driftloop.online import ServedModel
from driftloop.online.metrics import PROBABILITY_BUCKETS
from tests.conftest import TrainedStore
from tests.deployments.test_service import ARROW, FAST, MODEL, copy_store
from tests.driftloop.online.conftest import body_of, records_of, wait_until
from tests.driftloop.online.test_arrow import arrow_of
from tests.servers import prediction_service

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of /metrics by name and labels, read by prometheus-client's parser."""
    answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def june(flights_table: pd.DataFrame, slice_contract: Contract) -> pd.DataFrame:
    return cut_period(flights_table, slice_contract, "2013-06").iloc[:40].reset_index(drop=True)


def test_metrics_count_requests_records_refusals_misses_and_the_log(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path, june: pd.DataFrame
) -> None:
    registry = copy_store(trained_store, tmp_path / "store", 1, slice_contract.model_name)
    good = records_of(june.iloc[:5], slice_contract)
    good[2] = {**good[2], "time_hour": good[2]["time_hour"].replace("T", " ")}  # no weather row is written so
    more = records_of(june.iloc[5:9], slice_contract)
    bad_origin = [more[0], {**more[1], "origin": "BOS"}, {**more[2], "origin": "BOS"}]
    null_distance = [{**more[0], "distance": None}, more[1], {**more[2], "distance": None}]
    with prediction_service(tmp_path / "store", trained_store.contract, tmp_path / "serve.log", FAST) as ep:
        before = scrape(ep.url)
        url = f"{ep.url}/predict"
        answers = [
            httpx.post(url, content=body_of(good)),
            httpx.post(url, content=arrow_of(more, slice_contract), headers={"Content-Type": ARROW}),
            httpx.post(url, content=body_of(bad_origin)),
            httpx.post(url, content=arrow_of(null_distance, slice_contract), headers={"Content-Type": ARROW}),
            httpx.post(url, content=b'{"records": ['),
            httpx.post(url, content=b" " * 1_000_001),
        ]

        def logged(samples: Samples) -> bool:
            return (
                value(samples, "driftloop_log_rows_total", log="predictions", outcome="logged") == 9
                and value(samples, "driftloop_log_rows_total", log="refusals", outcome="logged") == 4
            )

        after = wait_until(lambda: (lambda s: s if logged(s) else None)(scrape(ep.url)), "9 + 4 rows logged")

    assert [answer.status_code for answer in answers] == [200, 200, 422, 422, 422, 413]
    assert value(before, "driftloop_predict_requests_total", status="200", format="json") == 0
    assert value(before, "driftloop_serving_model", model=MODEL, version="v1") == 1
    requests = {
        (status, kind): value(after, "driftloop_predict_requests_total", status=status, format=kind)
        for status in ("200", "413", "422")
        for kind in ("json", "arrow")
    }
    assert requests == {("200", "json"): 1, ("200", "arrow"): 1, ("413", "json"): 1, ("413", "arrow"): 0,
                        ("422", "json"): 2, ("422", "arrow"): 1}  # fmt: skip
    records = {
        (status, kind): value(after, "driftloop_predict_records_total", status=status, format=kind)
        for status in ("200", "422")
        for kind in ("json", "arrow")
    }
    assert records == {("200", "json"): 5, ("200", "arrow"): 4, ("422", "json"): 2, ("422", "arrow"): 2}
    assert value(after, "driftloop_predict_duration_seconds_count", format="json") == 4
    assert value(after, "driftloop_predict_duration_seconds_count", format="arrow") == 2
    refusals = {
        (name, field, rule): value(after, name, field=field, rule=rule)
        for name in ("driftloop_refusals_total", "driftloop_refused_records_total")
        for field, rule in (
            ("origin", "allowed"),
            ("distance", "max_null_fraction"),
            ("", "json"),
            ("", "size"),
        )
    }
    assert refusals == {
        ("driftloop_refusals_total", "origin", "allowed"): 1,
        ("driftloop_refusals_total", "distance", "max_null_fraction"): 1,
        ("driftloop_refusals_total", "", "json"): 1,
        ("driftloop_refusals_total", "", "size"): 1,
        ("driftloop_refused_records_total", "origin", "allowed"): 2,
        ("driftloop_refused_records_total", "distance", "max_null_fraction"): 2,
        ("driftloop_refused_records_total", "", "json"): 0,  # no record could be read
        ("driftloop_refused_records_total", "", "size"): 0,
    }
    references = References(slice_contract, SourceTables(slice_contract).references())
    model = ServedModel(registry.load(1), slice_contract, references, 10)
    each = [model.score(good).misses, model.score(more).misses]  # the two requests scored
    misses = {table: each[0][table] + each[1][table] for table in each[0]}
    assert misses["weather"] >= 1  # the record whose time is written with a space
    assert {table: value(after, "driftloop_lookup_misses_total", table=table) for table in misses} == misses
    probabilities = np.array(
        [p["probability"] for answer in answers[:2] for p in answer.json()["predictions"]]
    )
    for bound in PROBABILITY_BUCKETS:
        le = floatToGoString(bound)
        observed = value(after, "driftloop_prediction_probability_bucket", version="v1", le=le)
        assert observed == int((probabilities <= bound).sum()), le
    assert value(after, "driftloop_prediction_probability_count", version="v1") == 9
    assert value(after, "driftloop_prediction_probability_sum", version="v1") == pytest.approx(
        probabilities.sum()
    )
    assert value(after, "driftloop_log_rows_total", log="predictions", outcome="dropped") == 0
    assert value(after, "driftloop_log_pending_rows") == 0


def _environment(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def test_metrics_add_up_across_two_workers_and_outlive_a_killed_one(
    trained_store: TrainedStore, slice_contract: Contract, tmp_path: Path, june: pd.DataFrame
) -> None:
    copy_store(trained_store, tmp_path / "store", 1, slice_contract.model_name)
    bodies = [body_of(records_of(june.iloc[i : i + 1], slice_contract)) for i in range(len(june))]
    sent = 0
    seen: dict[int, int] = {}  # worker pid -> requests it counted (its /stats)
    with prediction_service(
        tmp_path / "store", trained_store.contract, tmp_path / "serve.log", FAST, 2
    ) as ep:

        def both_served() -> bool:
            nonlocal sent
            for _ in range(8):  # a new connection each: the workers share the listening socket
                assert httpx.post(f"{ep.url}/predict", content=bodies[sent % len(bodies)]).status_code == 200
                sent += 1
            for _ in range(8):
                stats = httpx.get(f"{ep.url}/stats").json()
                seen[stats["worker_pid"]] = stats["requests"]
            return len(seen) == 2 and all(seen.values())

        wait_until(both_served, "requests served by both workers", every=0)
        final: dict[int, int] = {}

        def every_worker_counted() -> bool:
            stats = httpx.get(f"{ep.url}/stats").json()
            final[stats["worker_pid"]] = stats["requests"]
            return set(final) == set(seen)

        wait_until(every_worker_counted, "a fresh /stats of both workers", every=0)
        scrapes = [scrape(ep.url) for _ in range(6)]  # answered by either worker
        folder = _environment(next(iter(seen)))["PROMETHEUS_MULTIPROC_DIR"]
        mode = os.stat(folder).st_mode & 0o777

        os.kill(next(iter(seen)), signal.SIGKILL)  # uvicorn starts another worker

        def replaced() -> bool:
            stats = httpx.get(f"{ep.url}/stats").json()
            final[stats["worker_pid"]] = stats["requests"]
            return (
                len(final) == 3
                and value(scrape(ep.url), "driftloop_serving_model", model=MODEL, version="v1") == 2
            )

        wait_until(replaced, "a new worker serving v1 in the killed one's place")
        after_kill = scrape(ep.url)

    assert sum(final[pid] for pid in seen) == sent  # each worker's own count, added
    for samples in scrapes:
        assert value(samples, "driftloop_predict_requests_total", status="200", format="json") == sent
        assert value(samples, "driftloop_predict_records_total", status="200", format="json") == sent
        assert value(samples, "driftloop_prediction_probability_count", version="v1") == sent
        assert value(samples, "driftloop_serving_model", model=MODEL, version="v1") == 2
    assert value(after_kill, "driftloop_predict_requests_total", status="200", format="json") == sent
    assert mode == 0o700 and not Path(folder).exists()  # private, and gone once the service stopped
