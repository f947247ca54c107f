"""How `stack apply` decides that a declared automation already matches the server's, without a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from deployments.stack.apply import _comparable, _desired_automation, _differing
from deployments.stack.declared import load_declarations
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
