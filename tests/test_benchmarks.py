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


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_the_scale_curve_times_every_phase_of_both_sides_on_the_same_rows(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "scale.json"
    bench("bench/scale.py", "--rows", "24000", "--json", str(out), "--work", str(tmp_path / "work"),
          "--train", "max_rounds=20", "--prefect-api", str(PREFECT_API_URL.value()))  # fmt: skip
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


def test_the_soak_swaps_every_version_in_and_loses_no_request_nor_log_row_to_a_store_outage(
    trained_store: TrainedStore, tmp_path: Path
) -> None:
    out = tmp_path / "soak.json"
    bench("-m", "bench.soak", "--minutes", "0.3", "--swap-every", "5", "--outage-at", "6", "--outage-seconds",
          "3", "--registry", str(trained_store.path), "--contract", str(trained_store.contract), "--work",
          str(tmp_path / "work"), "--json", str(out), timeout=120)  # fmt: skip
    result = json.loads(out.read_text())
    requests, swaps, log = result["requests"], result["swaps"], result["prediction_log"]
    # 18 s at 100 requests/s, every one answered 200, some while the store was down
    assert requests["sent"] == requests["answered_200"] == 1800
    assert requests["answered_200_during_outage"] > 0
    # the store had no champion: v2 first, then the other version at each swap; the swap due while the
    # store was down (at 10 s) was made once it served again
    assert swaps["ok"] == swaps["done"] >= 2 and swaps["after_outage_ok"] >= 1
    assert swaps["served_sequence"] == ["v2", "v1", "v2", "v1"][: swaps["done"] + 1]
    assert [row["waited_for_store"] for row in swaps["rows"]][:2] == [False, True]
    # every request answered 200 is in the log once; writes failed while the store was down
    assert log["rows"] == log["distinct_requests"] == 1800 and log["missing"] == 0
    assert log["failed_writes_counter"] >= 1
    assert result["failures"] == [] and all(sample["health"] == 200 for sample in result["samples"])
