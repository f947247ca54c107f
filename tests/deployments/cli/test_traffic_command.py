"""`driftloop traffic` against a real `driftloop serve`: it stays within its record and time bounds and sums
up what came back."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from deployments.cli import main
from driftloop.core.contract import Contract
from driftloop.core.storage import LocalStorage
from driftloop.registry import Registry
from tests.conftest import TrainedStore
from tests.servers import prediction_service


def test_traffic_stays_within_its_bounds_and_sums_up_the_answers(
    trained_store: TrainedStore,
    slice_contract: Contract,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = Path(shutil.copytree(trained_store.path, tmp_path / "store"))
    Registry(LocalStorage(store), slice_contract.model_name).promote(1, reason="test")
    common = ["--contract", str(trained_store.contract)]
    with prediction_service(store, trained_store.contract, tmp_path / "serve.log") as endpoint:
        capsys.readouterr()
        code = main(["traffic", "2013-06", "--url", endpoint.url, "--limit", "45", "--batch", "10",
                     "--json", str(tmp_path / "summary.json"), *common])  # fmt: skip
        out, _ = capsys.readouterr()
        assert code == 0, out
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert (summary["requests"], summary["sent_records"], summary["answered_records"]) == (5, 45, 45)
        assert summary["versions"] == {"v1": 45} and summary["failed_requests"] == 0
        assert "sent 45 records in 5 requests" in out and "answered 45 records by v1: 45" in out

        started = time.monotonic()
        code = main(["traffic", "2013-06", "2013-07", "--url", endpoint.url, "--rate", "5", "--seconds", "1",
                     "--json", str(tmp_path / "paced.json"), *common])  # fmt: skip
        took = time.monotonic() - started
        paced = json.loads((tmp_path / "paced.json").read_text())
        assert code == 0
        assert 4 <= paced["requests"] <= 6, paced  # 5 a second for one second
        assert paced["seconds"] < 1.5 and took < 20  # the period's read is outside the bound
