"""Every benchmark in `bench/` runs, at a tiny size, so that a harness cannot rot between the runs that
fill docs/benchmarks.md. The numbers are not judged here (a timed unit test would be noise); what each
harness reports of the work is: the same rows on both sides, every phase and verb present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TrainedStore

REPO = Path(__file__).resolve().parents[1]


def bench(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a benchmark as its docstring says, in a fresh process with analytics off and no TTY."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DRIFTLOOP_")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", MPLBACKEND="Agg")
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def test_the_scale_curve_times_every_phase_of_both_sides_on_the_same_rows(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    bench("bench/scale.py", "--rows", "24000", "--json", str(out), "--work", str(tmp_path / "work"),
          "--train", "max_rounds=20")  # fmt: skip
    (run,) = json.loads(out.read_text())["runs"]
    assert run["rows"] == 24_000
    assert run["months"] == 12
    assert set(run["phases"]) == {"ingest", "gate", "train", "score", "monitor"}
    for name, phase in run["phases"].items():
        driftloop, bare = phase["driftloop"], phase["bare"]
        # the same work: the rows each side went through, phase by phase
        assert driftloop["rows"] == bare["rows"] > 0, name
        assert driftloop["seconds"] > 0 and bare["seconds"] > 0, name
        assert driftloop["peak_rss_mb"] >= driftloop["baseline_mb"] > 0, name
    # four months ingested (the window and the period), one period scored
    assert run["phases"]["ingest"]["driftloop"]["rows"] == pytest.approx(4 * 2_000, rel=0.1)
    assert run["period_rows"] == run["phases"]["score"]["driftloop"]["rows"]
    assert run["phases"]["train"]["window_arrow_mb"] > 0
    assert run["driftloop_s"] == pytest.approx(sum(p["driftloop"]["seconds"] for p in run["phases"].values()))


@pytest.mark.flow
def test_the_command_line_timings_name_each_verb_cold_and_warm(
    trained_store: TrainedStore, tmp_path: Path
) -> None:
    out = tmp_path / "cli.json"
    done = bench("-m", "bench.cli", "--store", str(trained_store.path), "--runs", "1", "--only", "models",
                 "--json", str(out))  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [row["verb"] for row in rows] == ["driftloop models", "driftloop models --card 1"]
    for row in rows:
        assert 0 < row["cold"]["median_s"] < 60 and 0 < row["warm"]["median_s"] < 60
        assert "lightgbm" not in row["imports"] and "prefect" not in row["imports"]
    assert "| `driftloop models` |" in done.stdout
