"""The declarations in infra/: what they mean, read by Prefect's own models, before any server runs."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from deployments.stack.apply import _desired_automation
from deployments.stack.declared import INFRA_DIR, InvalidDeclaration, load_declarations
from deployments.stack.secrets import load_or_create
from driftloop.lifecycle.retrain_requests import DriftEvent


def test_prefect_yaml_is_valid_for_prefect_deploy_too() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    parsed = PrefectYamlModel.model_validate(yaml.safe_load((INFRA_DIR / "prefect.yaml").read_text()))

    assert sorted(d.name for d in parsed.deployments) == [
        "backtest",
        "ingest",
        "monitor-served",
        "monthly",
        "retrain",
        "score",
        "train",
    ]


def test_monthly_cron_fires_on_the_second_at_six_utc() -> None:
    from prefect.server.schemas.schedules import CronSchedule

    (schedule,) = next(d for d in load_declarations().project.deployments if d.name == "monthly").schedules
    dates = asyncio.run(
        CronSchedule(cron=schedule.cron, timezone=schedule.timezone).get_dates(
            n=2, start=datetime(2024, 1, 15, tzinfo=UTC)
        )
    )

    assert dates == [datetime(2024, 2, 2, 6, tzinfo=UTC), datetime(2024, 3, 2, 6, tzinfo=UTC)]


def test_the_automation_renders_the_retrain_parameters_from_the_event() -> None:
    from prefect.server.utilities.user_templates import render_user_template_sync

    automation = next(a for a in load_declarations().automations if a.name == "retrain-on-drift")
    (action,) = automation.actions
    drift = DriftEvent(
        event_id="0ad20679-eeae-5078-9d53-c02b23515280",
        model="flights-delay",
        period="2013-07",
        champion_version=3,
        reason="drift index 1.20 >= 1; prediction drift",
        policy="configured",
        alarms=("drift",),
        drift_index=1.2,
    )
    event = {"id": "ignored", "payload": drift.model_dump(mode="json")}  # as the monitor flow emits it

    rendered = {k: render_user_template_sync(v, {"event": event}) for k, v in action.parameters.items()}

    assert action.deployment == "retrain/retrain"
    assert rendered == {
        "period": "2013-07",
        "reason": "drift index 1.20 >= 1; prediction drift",
        "event_id": "0ad20679-eeae-5078-9d53-c02b23515280",
        "champion_version": "3",
    }


def test_every_payload_field_the_automations_read_is_a_field_of_the_drift_event() -> None:
    text = (INFRA_DIR / "automations.yaml").read_text()
    read = set(re.findall(r"event\.payload\.(\w+)", text))
    assert read == {"period", "reason", "event_id", "champion_version"}
    assert read <= set(DriftEvent.model_fields)


def test_retrain_runs_one_at_a_time_and_cancels_newcomers() -> None:
    retrain = next(d for d in load_declarations().project.deployments if d.name == "retrain")

    assert retrain.concurrency_limit is not None
    limit = retrain.concurrency_limit
    assert (limit.limit, limit.collision_strategy) == (1, "CANCEL_NEW")


def test_a_typo_in_a_declaration_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    for name in ("prefect.yaml", "automations.yaml", "work-pool.yaml", "bucket.yaml"):
        (tmp_path / name).write_text((INFRA_DIR / name).read_text())
    (tmp_path / "bucket.yaml").write_text("versioning: On\n")

    with pytest.raises(InvalidDeclaration) as error:
        load_declarations(tmp_path)

    assert str(error.value).startswith(f"{tmp_path / 'bucket.yaml'}: versioning: Input should be")


def test_secrets_are_made_once_and_readable_by_their_owner_only(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "secrets")
    second = load_or_create(tmp_path / "secrets")

    assert first == second
    assert first.prefect_auth_string.startswith("driftloop:") and len(first.prefect_auth_string) > 30
    assert stat.S_IMODE((tmp_path / "secrets" / "secrets.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700


def test_a_run_whose_heartbeats_stop_for_ten_minutes_is_declared_crashed() -> None:
    spec = next(a for a in load_declarations().automations if a.name == "crash-unresponsive-runs")
    core = _desired_automation(spec, {})  # what `stack apply` sends: Prefect's own model, validated

    assert (core.trigger.posture, core.trigger.within.total_seconds()) == ("Proactive", 600.0)
    assert core.trigger.after == {"prefect.flow-run.heartbeat"}
    assert "prefect.flow-run.Completed" in core.trigger.expect
    assert [(a.type, a.state.value) for a in core.actions] == [("change-flow-run-state", "CRASHED")]
