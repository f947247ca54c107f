"""A person follows the stack in the UI: log in with the basic-auth string, see the deployments and the
automation `stack apply` declared, open a finished monitoring run and its artifacts, read the verdict, and
click through to the Evidently report behind the link.

The browser is Debian's chromium (scripts/system-packages.sh installs it), driven by playwright. Nothing
leaves the machine: requests to anything but 127.0.0.1 are refused (Prefect's UI would fetch its analytics
configuration from amplitude.com). The screenshots stay in .driftloop/test-screenshots/ for a person to
look at (DRIFTLOOP_TEST_SCREENSHOTS moves them).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.integration.conftest import StackHandle
from tests.servers import short_temp_root

pytestmark = pytest.mark.integration
CHROMIUM_FLAGS = [
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("DRIFTLOOP_TEST_SCREENSHOTS", REPO / ".driftloop" / "test-screenshots"))
NOT_LOOPBACK = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


def _finished_monitoring_run(stack: StackHandle) -> dict[str, Any]:
    """The session's finished monitoring run of a named period (the drift test makes one), else a new one."""
    done = [
        run
        for run in stack.runs("monitor/monthly")
        if run["state"]["type"] == "COMPLETED" and run["parameters"].get("period")
    ]
    if done:
        return done[-1]
    if not [run for run in stack.runs("train/train") if run["state"]["type"] == "COMPLETED"]:
        stack.run_deployment("train/train", {"as_of": "2013-03"})
    return stack.run_deployment("monitor/monthly", {"period": "2013-06"})


def _artifact(stack: StackHandle, run: dict[str, Any], key: str) -> dict[str, Any]:
    found = stack.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    return next(artifact for artifact in found if artifact["key"] == key)


def test_a_person_logs_in_sees_the_declarations_and_follows_a_run_to_its_verdict_and_report(
    stack: StackHandle,
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh installs it as root)")
    from playwright.sync_api import sync_playwright

    run = _finished_monitoring_run(stack)
    period = run["parameters"]["period"]
    verdict = _artifact(stack, run, f"monitoring-flights-{period}")
    report = _artifact(stack, run, f"drift-report-flights-{period}")
    verdict_heading = verdict["data"].splitlines()[0]
    ui = stack.env["PREFECT_API_URL"].removesuffix("/api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    names = ("login", "deployments", "automations", "run-artifacts", "verdict", "report")
    shots = {name: SCREENSHOTS / f"{name}.png" for name in names}

    # Chromium puts its singleton socket under TMPDIR: a long one breaks the 107-byte socket path limit.
    with (
        tempfile.TemporaryDirectory(prefix="chromium-", dir=short_temp_root()) as browser_tmp,
        sync_playwright() as driver,
    ):
        browser = driver.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_FLAGS,
            headless=True,
            env={**os.environ, "TMPDIR": browser_tmp},
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(60_000)
            context.route(NOT_LOOPBACK, lambda route: route.abort())
            page = context.new_page()
            page.goto(f"{ui}/")  # the UI sends a visitor without the string to its login form
            password = page.get_by_placeholder("admin:pass")
            password.fill("driftloop:wrong")
            page.get_by_role("button", name="Login").click()
            page.get_by_text("Invalid credentials").wait_for()
            page.screenshot(path=shots["login"])
            login_url = page.url
            password.fill(stack.env["PREFECT_API_AUTH_STRING"])
            page.get_by_role("button", name="Login").click()
            page.get_by_role("link", name="Deployments").first.click()  # what `stack apply` declared
            page.get_by_text("7 Deployments").wait_for()
            page.get_by_text("1 schedules").first.wait_for()  # monitor/monthly's and monitor-served's crons
            page.screenshot(path=shots["deployments"], full_page=True)
            page.get_by_role("link", name="Automations").first.click()
            page.get_by_text("retrain-on-drift").wait_for()
            page.get_by_text("Run deployment").wait_for()
            page.screenshot(path=shots["automations"], full_page=True)

            run_page = f"{ui}/v2/runs/flow-run/{run['id']}?tab=Artifacts"
            page.goto(run_page)
            page.get_by_text(f"drift-report-flights-{period}").wait_for()
            page.get_by_text("Completed").first.wait_for()
            page.wait_for_load_state("networkidle")  # the task graph draws once its data is in
            page.locator("canvas").first.wait_for(state="visible")  # its canvas, made once the graph loads
            page.screenshot(path=shots["run-artifacts"], full_page=True)
            run_header = page.get_by_text(f"monitor {period}").first.inner_text()

            page.get_by_text(f"monitoring-flights-{period}").click()  # the key's page: its versions
            page.locator(f"a[href*='/artifacts/artifact/{verdict['id']}']").click()  # this run's
            page.get_by_role("heading", name=verdict_heading.removeprefix("## ")).wait_for()
            page.get_by_text("importance-weighted index").first.wait_for()
            page.screenshot(path=shots["verdict"], full_page=True)

            page.goto(run_page)
            page.get_by_text(f"drift-report-flights-{period}").click()
            page.locator(f"a[href*='/artifacts/artifact/{report['id']}']").click()
            page.get_by_role("link", name="Evidently HTML report").click()
            page.get_by_text("Drift in column").first.wait_for()
            page.screenshot(path=shots["report"])
            report_url = page.url
        finally:
            browser.close()

    assert "/login" in login_url
    assert run_header == f"monitor {period}"
    assert report_url.startswith(f"{stack.env['DRIFTLOOP_S3_ENDPOINT_URL']}/driftloop/store/reports/drift/")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in report_url and "X-Amz-Expires=604800" in report_url
    assert httpx.get(report_url.split("?")[0]).status_code == 403  # the report is not public
    sizes = {name: path.stat().st_size for name, path in shots.items()}
    assert sizes["login"] > 5_000 and min(sizes.values()) > 5_000 and sizes["report"] > 50_000, sizes
