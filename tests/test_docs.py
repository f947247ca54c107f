"""The docs cannot go stale silently: every source path and module they name exists, and the README's
claims about the command line hold."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP = (
    "driftloop",
    "flows",
    "tasks",
    "deployments",
    "tests",
    "bench",
    "infra",
    "scripts",
    "data_contracts",
    "docs",
)
# A path as docs write it: starts at a top-level folder of the repo, made of path characters.
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP) + r")/[\w./-]*[\w/])")
MODULE = re.compile(r"(?<![\w./-])((?:driftloop|flows|tasks|deployments)(?:\.[a-z_][a-z0-9_]*)+)")


def _named(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return [(doc.name, found) for doc in DOCS for found in pattern.findall(doc.read_text())]


def _module_exists(dotted: str) -> bool:
    """A module, a package, or a name defined in one (`driftloop.core.layout.batch`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:end])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            if end == len(parts):
                return True
            name = parts[end]
            defined = re.compile(rf"^(?:def|class) {name}\b|^{name}\b\s*[:=]|\"{name}\"", re.MULTILINE)
            return end == len(parts) - 1 and bool(defined.search(source.read_text()))
    return False


def test_every_source_path_the_docs_name_exists() -> None:
    missing = sorted({(doc, path) for doc, path in _named(PATH) if not (REPO / path.rstrip("/")).exists()})
    assert missing == [], "named in the docs but not in the repo: " + ", ".join(
        f"{p} ({d})" for d, p in missing
    )


def test_every_module_the_docs_name_exists() -> None:
    ignore = {"driftloop.drift.detected", "driftloop.model", "driftloop.dataset"}  # event and resource ids
    named = {(doc, name) for doc, name in _named(MODULE) if name not in ignore}
    missing = sorted((doc, name) for doc, name in named if not _module_exists(name))
    assert missing == [], "named in the docs but not in the code: " + ", ".join(
        f"{m} ({d})" for d, m in missing
    )


def test_the_checks_see_real_references() -> None:
    """Guards the two tests above against matching nothing (a broken pattern would pass them)."""
    paths = {path for _, path in _named(PATH)}
    modules = {name for _, name in _named(MODULE)}
    assert {"driftloop/core/layout.py", "tests/flows/test_golden_replay.py"} <= paths
    assert len(paths) > 30 and len(modules) > 5
    assert not _module_exists("driftloop.monitoring") and _module_exists("driftloop.lifecycle.monitoring")
    assert not (REPO / "tasks/retry.py").exists()


@pytest.mark.parametrize(
    "verb", ["run", "backtest", "ingest", "train", "score", "monitor", "models", "reproduce"]
)
def test_the_verbs_the_readme_says_take_store_and_contract_do(verb: str) -> None:
    from typer.main import get_command

    from deployments.cli import app

    command = get_command(app).commands[verb]  # type: ignore[attr-defined]
    options = {option for parameter in command.params for option in parameter.opts}
    assert {"--store", "--contract"} <= options


def test_the_configuration_page_is_what_the_settings_classes_say() -> None:
    from deployments.configuration import render

    page = (REPO / "docs" / "configuration.md").read_text()
    regenerate = ".venv/bin/python -m deployments.configuration > docs/configuration.md"
    assert page == render(), f"docs/configuration.md is stale: run `{regenerate}`"
    assert "| `DRIFTLOOP_PREFECT_HOME` | `.driftloop/prefect` |" in page  # every concern is there
    assert "| `DRIFTLOOP_STACK_PREFECT_PORT` | `4200` |" in page


def test_the_max_age_default_reads_the_same_everywhere() -> None:
    """The code's default is the training window's length; every page that names the setting says so."""
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            if "MAX_AGE_PERIODS" in line and "|" in line:
                assert "window" in line, f"{doc.name}: {line}"
