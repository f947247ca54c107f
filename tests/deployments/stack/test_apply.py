"""How `stack apply` decides that what it declares already matches the server: automations compared
without a server, and the whole of infra/ applied twice to the session's Prefect server."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from deployments.stack.apply import (
    _comparable,
    _desired_automation,
    _differing,
    _flow_name,
    apply_declarations,
)
from deployments.stack.declared import Declarations, load_declarations
from driftloop.core.settings import S3Settings
from tests.conftest import REPO

# Read back from the server, a trigger's `expect` list comes in the server's order. Under some string
# hash seeds (7 is one) the order its elements are put into a set changes the order the set lists
# them in, which made a second apply "update" an automation that had not changed.
_EVERY_ORDER = """
import itertools, json, uuid
from deployments.stack.apply import _comparable, _desired_automation
from deployments.stack.declared import load_declarations

ids = {"retrain/retrain": uuid.UUID(int=1)}
unequal = {}
for spec in load_declarations().automations:
    wanted = _comparable(_desired_automation(spec, ids))
    unequal[spec.name] = 0
    for order in itertools.permutations(spec.trigger.get("expect", [])):
        read_back = spec.model_copy(update={"trigger": {**spec.trigger, "expect": list(order)}})
        unequal[spec.name] += _comparable(_desired_automation(read_back, ids)) != wanted
print(json.dumps(unequal))
"""


def test_an_automation_read_back_in_another_order_is_unchanged_under_any_hash_seed() -> None:
    for seed in ("7", "0"):
        done = subprocess.run(
            [sys.executable, "-c", _EVERY_ORDER],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )

        assert json.loads(done.stdout) == {"retrain-on-drift": 0, "crash-unresponsive-runs": 0}, seed


def test_an_update_names_the_fields_that_differ() -> None:
    spec = next(a for a in load_declarations().automations if a.name == "crash-unresponsive-runs")
    changed = spec.model_copy(update={"trigger": {**spec.trigger, "within": 900}, "description": "other"})
    ids = {"retrain/retrain": uuid.uuid4()}

    current = _comparable(_desired_automation(spec, ids))
    wanted = _comparable(_desired_automation(changed, ids))

    assert _differing(current, wanted) == ["description", "trigger.within"]
    assert _differing(current, current) == []


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_server")
def test_a_second_apply_changes_nothing_and_an_update_names_the_deployment_field(tmp_path: Path) -> None:
    """Against the session's Prefect server, read back through Prefect's own models; the store is a local
    folder, so no bucket is touched."""
    declared = load_declarations()
    store = str(tmp_path / "store")
    monthly = next(d for d in declared.project.deployments if d.name == "monthly")
    edited = declared.model_copy(
        update={
            "project": declared.project.model_copy(
                update={
                    "deployments": [
                        d.model_copy(update={"description": "edited"}) if d is monthly else d
                        for d in declared.project.deployments
                    ]
                }
            )
        }
    )
    try:
        first = apply_declarations(declared, store, S3Settings(), lambda _: None)
        again = apply_declarations(declared, store, S3Settings(), lambda _: None)
        updated = apply_declarations(edited, store, S3Settings(), lambda _: None)
    finally:
        _remove(declared)

    assert {c.action for c in first if c.kind != "bucket"} == {"created"}
    assert len(first) == 1 + len(declared.project.deployments) + len(declared.automations) + 1
    assert [c.line() for c in again if c.action != "unchanged"] == [
        f"bucket {store}: not supported (the store is a local folder, not S3)"
    ]
    assert [c.line() for c in updated if c.action == "updated"] == [
        "deployment monitor/monthly: updated (description)"
    ]


def _remove(declared: Declarations) -> None:
    """What apply made on the shared test server, whatever it got to: the automations would act on other
    tests' runs."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for spec in declared.automations:
            for automation in client.read_automations_by_name(spec.name):
                client.delete_automation(automation.id)
        for spec in declared.project.deployments:
            with contextlib.suppress(ObjectNotFound):
                name = f"{_flow_name(declared, spec)}/{spec.name}"
                client.delete_deployment(client.read_deployment_by_name(name).id)
        with contextlib.suppress(ObjectNotFound):
            client.delete_work_pool(declared.work_pool.name)
