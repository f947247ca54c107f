"""Issue 19, interleavings: two writers at once, forced into each order that matters.

One command pauses at a named step (`driftloop.core.faults`) while the other runs to the end, then goes
on. Whatever the order, the store ends as if the two had run one after the other in the order their
promotions landed: one champion, the one the promotion rule picks, and a log whose every promotion rests
on an evaluation against the champion it replaced (`check_registry`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.errors import ExitCode
from driftloop.core import layout
from tests.faults.harness import EVERY_PERIOD, Cli, checks_out, copied

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

OLDER, NEWER = ("train", "--as-of", "2013-05"), ("train", "--as-of", "2013-06")
JUNE = ("monitor", "2013-06")


def _champion_history(cli: Cli) -> list[tuple[str, str | None]]:
    """Each promotion as (model SHA-256, the replaced model's SHA-256): comparable across stores whatever
    numbers the versions got."""
    registry = cli.registry()
    sha = {version.version: version.model_sha256 for version in registry.versions()}
    return [(sha[e.version], sha.get(e.previous_version or 0)) for e in registry.promotion_log()]


def _one_after_the_other(trained: Cli, to: Path, *commands: tuple[str, ...]) -> Cli:
    cli = copied(trained, to)
    for argv in commands:
        done = cli.run(*argv)
        assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    return cli


def _while_paused(
    trained: Cli, folder: Path, step: str, paused: tuple[str, ...], other: tuple[str, ...], **env: str
) -> tuple[Cli, str]:
    """On a copy of `trained`, `paused` stops at `step`, `other` runs to the end, then `paused` goes on; both
    must succeed and the registry check out. Returns the store and the paused command's output."""
    cli = copied(trained, folder / "store")
    waiting = cli.paused_at(step, folder / "gate", *paused, **env)
    done = cli.run(*other, **env)
    code, output = waiting.finish()
    assert (done.returncode, code) == (ExitCode.OK, ExitCode.OK), done.stdout + done.stderr + output
    checks_out(cli)
    return cli, output


def test_a_training_whose_champion_changed_after_it_was_judged_is_judged_again(
    trained: Cli, tmp_path: Path
) -> None:
    """Issue 19, finding 1: two trainings judged against the same champion both promoted, and the model
    of older data ended up champion. Paused after its evaluation against v1, the first finds on resuming
    that the second has been promoted since; it is judged again, against that one. The store ends as if
    the second had run first, alone."""
    cli, _ = _while_paused(trained, tmp_path, "promote.judged", OLDER, NEWER)
    expected = _one_after_the_other(trained, tmp_path / "sequential" / "store", NEWER, OLDER)
    assert _champion_history(cli) == _champion_history(expected)


def test_a_promotion_logged_before_the_pointer_moved_is_the_champion_the_next_training_meets(
    trained: Cli, tmp_path: Path
) -> None:
    """Paused between its log entry and the pointer, the first training is champion already: the second
    is judged against it, not against the v1 the pointer still names."""
    cli, _ = _while_paused(trained, tmp_path, "promote.logged", OLDER, NEWER)
    registry = cli.registry()
    older, newer = (v.version for v in registry.versions()[1:])  # registered in that order
    log = [(e.version, e.previous_version) for e in registry.promotion_log()]
    assert log[:2] == [(1, None), (older, 1)]
    decision = registry.evaluation_against(newer, older)
    assert decision is not None, "the second training was not judged against the first"
    assert log[2:] == ([(newer, older)] if decision.decision.promote else [])


def test_two_monitors_of_one_period_file_one_verdict_and_one_retrain_request(
    trained: Cli, tmp_path: Path
) -> None:
    cli, _ = _while_paused(
        trained,
        tmp_path,
        "monitor.verdict-stored",
        JUNE,
        JUNE,
        **EVERY_PERIOD,
    )
    requests = [p for p in (cli.store / layout.registry("flights-delay", "retrains")).iterdir()]
    assert [p.name.endswith(".json") and not p.name.endswith(".outcome.json") for p in requests] == [True]
    verdicts = list((cli.store / "reports" / "drift" / "flights" / "2013-06").glob("*.json"))
    assert [v.name for v in verdicts] == ["flights-delay-v0001.json"]


def test_a_training_during_a_monitor_leaves_the_monitor_measuring_the_champion_it_scored(
    trained: Cli, tmp_path: Path
) -> None:
    cli, output = _while_paused(trained, tmp_path, "monitor.report-stored", JUNE, NEWER, **EVERY_PERIOD)
    registry = cli.registry()
    assert [e.version for e in registry.promotion_log()] == [1, 2], "the training promoted v2"
    # the monitor's verdict and retrain request name v1, the champion it measured, not the one since
    verdicts = list((cli.store / "reports" / "drift" / "flights" / "2013-06").glob("*.json"))
    assert [v.name for v in verdicts] == ["flights-delay-v0001.json"]
    assert "v1" in output
