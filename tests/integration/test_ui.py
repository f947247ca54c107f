"""A person follows a monitoring run in the UI: log in with the basic-auth string, open the finished run,
its artifacts, and the Evidently report behind the link; screenshots of each are kept for a human to look at.

The browser is Debian's chromium (installed by scripts/system-packages.sh), driven by playwright.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import StackHandle

pytestmark = pytest.mark.integration
CHROMIUM_FLAGS = [
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no network here: no calls home
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("DRIFTLOOP_TEST_SCREENSHOTS", REPO / ".driftloop" / "test-screenshots"))


def _finished_monitoring_run(stack: StackHandle) -> dict[str, Any]:
    done = [r for r in stack.runs("monitor/monthly") if r["state"]["type"] == "COMPLETED" and r["parameters"]]
    if done:
        return done[-1]
    if not [r for r in stack.runs("train/train") if r["state"]["type"] == "COMPLETED"]:
        stack.run_deployment("train/train", {"as_of": "2013-03"})
    return stack.run_deployment("monitor/monthly", {"period": "2013-05"})


def test_the_ui_shows_a_finished_monitoring_run_its_verdict_and_the_report(stack: StackHandle) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh installs it as root)")
    from playwright.sync_api import sync_playwright

    run = _finished_monitoring_run(stack)
    period = run["parameters"]["period"]
    artifacts = stack.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    reports = [a for a in artifacts if (a["key"] or "").startswith("drift-report-")]
    assert len(reports) == 1, [(a["key"], a["type"]) for a in artifacts]
    report = reports[0]
    ui = stack.env["PREFECT_API_URL"].removesuffix("/api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ui}/runs/flow-run/{run['id']}")
            page.locator("input[type=password]").fill(stack.env["PREFECT_API_AUTH_STRING"])
            page.keyboard.press("Enter")
            page.get_by_text(f"monitor {period}").first.wait_for(timeout=60_000)
            page.goto(f"{ui}/runs/flow-run/{run['id']}?tab=Artifacts")
            page.get_by_text(f"monitoring-flights-{period}").first.wait_for(timeout=60_000)
            page.screenshot(path=SCREENSHOTS / "monitoring-run-artifacts.png", full_page=True)
            page.goto(f"{ui}/artifacts/key/monitoring-flights-{period}")
            verdict = page.get_by_text(f"{period}: model v").first
            verdict.wait_for(timeout=60_000)
            verdict_text = verdict.inner_text()
            page.screenshot(path=SCREENSHOTS / "monitoring-verdict.png", full_page=True)
            opened = page.goto(report["data"])  # the presigned link, as a click on it would open it
            page.wait_for_load_state("networkidle", timeout=60_000)
            page.screenshot(path=SCREENSHOTS / "evidently-report.png")
            html = page.content()
        finally:
            browser.close()

    assert "alarm" in verdict_text
    assert report["data"].startswith(stack.env["DRIFTLOOP_S3_ENDPOINT_URL"])
    assert "X-Amz-Expires=604800" in report["data"]
    assert opened is not None and opened.status == 200
    assert "evidently" in html.lower()
    assert all(
        (SCREENSHOTS / name).stat().st_size > 10_000
        for name in ("monitoring-verdict.png", "evidently-report.png")
    )
