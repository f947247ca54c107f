"""From a raw file to a running loop without writing YAML: `driftloop contract init` on a data set with an
integer year and a group of columns that restate the label, then `driftloop run` on the draft as it is. Put
back as features against the draft's advice, the group is caught again when a model is trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.cli import main
from deployments.errors import ExitCode
from tests.driftloop.lifecycle.test_drafting import BINS, _yearly_with_a_grouped_leak

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]


def test_a_drafted_contract_runs_the_replay_and_its_leak_marks_hold_at_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data, draft = tmp_path / "yearly.csv", tmp_path / "yearly.yaml"
    _yearly_with_a_grouped_leak(data)

    code = main(["contract", "init", str(data), "--time", "year", "--target", "score",
                 "--positive-above", "1", "--output", str(draft)])  # fmt: skip
    said = capsys.readouterr().out
    assert code == 0, said
    assert "bin_1, bin_2, bin_3, bin_4, bin_5: role leakage, no feature (together they restate score" in said

    code = main(["run", "--store", str(tmp_path / "store"), "--contract", str(draft)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    table = out[out.index("year  champion") :].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in table[2:]] == [str(year) for year in range(2000, 2015)]

    raw = yaml.safe_load(draft.read_text())  # the user ignores the marks: the bins become features
    for name in BINS:
        raw["columns"][name].pop("role")
        raw["features"].append({"name": name, "kind": "numeric"})
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(yaml.safe_dump(raw, sort_keys=False))
    code = main(
        ["train", "--as-of", "2003", "--store", str(tmp_path / "leaky-store"), "--contract", str(leaky)]
    )
    _, err = capsys.readouterr()
    assert code == ExitCode.CONTRACT_VIOLATION, err
    named = err.split("training blocked: ", 1)[1].split(" restate", 1)[0].removesuffix(" together")
    assert named and set(named.split(", ")) <= set(BINS), err  # the group, and no honest column
