"""`driftloop monitor --served` on what a real service served: `driftloop traffic` sends June's records to
`driftloop serve`, some broken; monitoring then reads the prediction log, joins the outcomes and judges the
champion as batch monitoring does, marked served."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import yaml

from driftloop.core import layout
from driftloop.core.contract import Contract
from driftloop.core.storage import LocalStorage
from driftloop.data.batches import cut_period
from driftloop.data.enrichment import labels
from driftloop.modelling.metrics import score_predictions
from driftloop.online import read_prediction_log
from driftloop.online.traffic import client_records, send
from driftloop.registry import Registry
from tests.conftest import TrainedStore, slice_settings
from tests.driftloop.online.conftest import wait_until
from tests.servers import prediction_service

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

FAST = {"DRIFTLOOP_SERVE_POLL_SECONDS": "0.2", "DRIFTLOOP_SERVE_LOG_FLUSH_SECONDS": "0.2"}
SENT = 400  # records, 10 a request
BROKEN = 10  # every 40th record has a distance beyond any route from NYC: its request of 10 is refused


class ServedJune(NamedTuple):
    store: Path
    contract: Path
    log: pd.DataFrame  # what the service logged, with each flight's outcome from the package's June


@pytest.fixture(scope="module")
def served_june(
    trained_store: TrainedStore,
    slice_contract: Contract,
    flights_table: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedJune]:
    folder = tmp_path_factory.mktemp("served-june")
    store = Path(shutil.copytree(trained_store.path, folder / "store"))
    Registry(LocalStorage(store), slice_contract.model_name).promote(2, reason="test")
    june = cut_period(flights_table, slice_contract, "2013-06").sample(SENT, random_state=7)
    records = client_records(june, slice_contract)
    for record in records[::40]:
        record["distance"] = 99_999
    with prediction_service(store, trained_store.contract, folder / "serve.log", FAST) as endpoint:
        summary = send(records, endpoint.url, batch=10)
        assert (summary.answered_records, summary.refused_records) == (SENT - 100, 100)
        assert summary.refusals == {"distance: range": BROKEN}

        def logged() -> pd.DataFrame | None:
            frame = read_prediction_log(
                LocalStorage(store), slice_contract, slice_contract.model_name,
                pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp.now(tz="UTC"),
            )  # fmt: skip
            return frame if len(frame) == SENT - 100 else None

        wait_until(lambda: logged() is not None, f"{SENT - 100} logged predictions")
        log = logged()
        assert log is not None
    truth = june.drop_duplicates(slice_contract.unique_key, keep="last")[
        [*slice_contract.unique_key, "arr_delay"]
    ]
    yield ServedJune(
        store, trained_store.contract, log.merge(truth, on=slice_contract.unique_key, how="left")
    )


def test_monitoring_the_served_log_joins_outcomes_and_judges_what_was_returned(
    served_june: ServedJune, slice_contract: Contract
) -> None:
    from flows.monitor import monitor_flow

    settings = slice_settings(str(served_june.store), served_june.contract)
    outcome = monitor_flow("2013-06", settings, served=True)

    verdict = outcome.verdict
    served = verdict.served
    assert served is not None and verdict.model_version == 2
    assert (served.predictions, served.by_version, served.monitored) == (300, {"v2": 300}, 300)
    keyed = served_june.log  # the outcomes joined by hand, on the unique key
    label = labels(keyed, slice_contract)
    known = label.notna().to_numpy()
    assert served.labelled == int(known.sum()) and 280 < served.labelled < 300  # cancellations have none
    expected_auc = score_predictions(label[known].to_numpy(), keyed["prediction"].to_numpy()[known]).auc
    assert verdict.performance.realized == pytest.approx(expected_auc, abs=1e-12)
    assert (served.refused_records, served.refusals) == (BROKEN, {"distance: range": BROKEN})
    store = LocalStorage(served_june.store)
    assert store.exists(layout.monitoring_verdict("flights", "2013-06", "flights-delay", 2, served=True))
    assert store.exists(layout.retrain_decision("flights", "2013-06", "flights-delay", served=True))
    assert not store.exists(layout.monitoring_verdict("flights", "2013-06", "flights-delay", 2))


def test_outcomes_that_have_not_arrived_leave_the_estimate_in_charge(
    served_june: ServedJune, slice_contract: Contract, tmp_path: Path
) -> None:
    """A label file holding the outcomes of half the served flights: the join rate says so."""
    from flows.monitor import monitor_flow

    half = served_june.log.iloc[::2]
    half[[*slice_contract.unique_key, "arr_delay"]].to_csv(tmp_path / "outcomes.csv", index=False)
    raw = yaml.safe_load(served_june.contract.read_text())
    raw["target"]["labels"] = {"path": str(tmp_path / "outcomes.csv")}
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(raw, sort_keys=False))
    store = tmp_path / "store"
    shutil.copytree(served_june.store, store)

    verdict = monitor_flow("2013-06", slice_settings(str(store), contract), served=True).verdict

    served = verdict.served
    expected = int(half["arr_delay"].notna().sum())
    assert served is not None and served.labelled == expected
    assert served.join_rate == pytest.approx(expected / 300)
    assert verdict.performance.estimated is not None  # the estimate is always there beside the realized AUC
    np.testing.assert_equal(served.monitored, 300)


def test_the_command_line_prints_the_served_line_and_the_live_shadow_decision(
    served_june: ServedJune,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a live shadow win required, `driftloop monitor --served` says what the comparison decided."""
    from deployments.cli import main

    store = Path(shutil.copytree(served_june.store, tmp_path / "store"))
    monkeypatch.setenv("DRIFTLOOP_PROMOTE_REQUIRE_LIVE_SHADOW_WIN", "true")

    code = main(
        ["monitor", "2013-06", "--served", "--store", str(store), "--contract", str(served_june.contract)]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert "2013-06 served: 300 predictions by v2, labels joined for " in out
    assert "10 records refused (most: distance: range, 10)" in out
    assert "Live shadow: no challenger awaits a live shadow comparison with the champion v2" in out
