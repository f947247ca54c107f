"""`driftloop run --live`: the replay with the online service in the loop. Each week's records go through a
real `driftloop serve`; what it served is monitored; a promotion swaps the service's model. The decisions
are the batch replay's, and not one request fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.cli import main
from tests.flows.test_example_datasets import GOLDEN_RAIN, RAIN_WEEKLY

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def _without_served_columns(line: str) -> str:
    cells = line.split()
    return " ".join(cells[:2] + cells[4:])


def test_the_live_replay_serves_every_week_and_decides_as_the_batch_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--live", "--replay-to", "2013-W16", "--store", str(tmp_path / "store"),
                 "--contract", str(RAIN_WEEKLY)])  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 0, out + err
    table = out[out.index("week      champion  served by") :].split("\n\n")[0].splitlines()
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert [(rows[w][2], rows[w][3]) for w in sorted(rows)] == [
        ("v1", "0"), ("v1", "0"), ("v1", "0"), ("v3", "0"),  # v3, promoted at W15, answers W16's requests
    ]  # fmt: skip
    batch = [" ".join(line.split()) for line in GOLDEN_RAIN.splitlines()[2:]]
    assert [_without_served_columns(line) for line in table[2:5]] == batch
    assert (tmp_path / ".driftloop" / "live-serve.log").read_text().count("now serving v3") == 1
