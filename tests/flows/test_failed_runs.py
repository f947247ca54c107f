"""A flow run that fails leaves its error in the result storage as JSON, never as a pickle (issue 19,
finding 5): Prefect writes a failed run's exception with the flow's serializer, pickle by default."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from driftloop.registry.registry import NoChampion
from tests.conftest import slice_settings

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def test_a_failed_flow_run_writes_its_error_as_json_not_a_pickle(file_source: Path, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_RESULTS_LOCAL_STORAGE_PATH, temporary_settings

    from flows.score import score_flow

    settings = slice_settings(str(tmp_path / "store"), file_source)
    results = tmp_path / "store" / "_prefect_results"  # where the command line puts them for a local store
    with temporary_settings({PREFECT_RESULTS_LOCAL_STORAGE_PATH: str(results)}), pytest.raises(NoChampion):
        score_flow(period="2013-05", settings=settings)  # nothing trained yet

    written = [path.read_bytes() for path in results.iterdir()]
    assert written, "the failed run's error is recorded"
    for data in written:
        assert not data.startswith(base64.b64encode(b"\x80"))  # a base64 pickle starts "gA"
        error = json.loads(data)
        assert error["__exc_type__"] == "driftloop.registry.registry.NoChampion"
        assert error["message"].startswith("flights-delay has no champion in ")
