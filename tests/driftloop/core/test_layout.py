"""Every store key comes from one module, and the table in docs/architecture.md is that module."""

from __future__ import annotations

import re

from driftloop.core import layout
from driftloop.core.storage import check_key
from tests.conftest import REPO

SHA = "ab" * 32
KEYS = {
    "batch": layout.batch("flights", "2013-04", SHA),
    "validated": layout.validated("flights", "2013-04"),
    "history": layout.validated_history("flights", "2013-04", SHA),
    "gate report": layout.gate_report("flights", SHA),
    "quarantine": layout.quarantine("flights", "2013-04", f"20261124T120000000000Z-{SHA[:16]}")
    + "/report.json",
    "predictions": layout.predictions("flights", "2013-04", "flights-delay", 3),
    "drift report": layout.drift_report("flights", "2013-04", "flights-delay", 3),
    "verdict": layout.monitoring_verdict("flights", "2013-04", "flights-delay", 3),
    "decision": layout.retrain_decision("flights", "2013-04", "flights-delay"),
    "timeline": layout.replay_timeline("flights"),
    "backtest": layout.backtest_report("flights", "backtest.json"),
    "backtest plot": layout.backtest_report("flights", "backtest.png"),
    "prediction log": layout.prediction_log(
        "flights", "flights-delay", "2026-12-01", "070102000000-ab12cd-000001"
    ),
    "served drift report": layout.drift_report("flights", "2013-04", "flights-delay", 3, served=True),
    "served verdict": layout.monitoring_verdict("flights", "2013-04", "flights-delay", 3, served=True),
    "served decision": layout.retrain_decision("flights", "2013-04", "flights-delay", served=True),
    "refusal log": layout.refusal_log("flights", "flights-delay", "2026-12-01", "070102000000-ab12cd-000001"),
    "blob": layout.registry_blob("flights-delay", SHA),
    "version": layout.registry_version("flights-delay", 3),
    "log entry": layout.promotion_entry("flights-delay", 12),
    "pointer": layout.champion_pointer("flights-delay"),
    "evaluation": layout.evaluation("flights-delay", 3),
    "rejudgement": layout.rejudgement("flights-delay", 3, 5),
    "claim": layout.registration_claim("flights-delay", SHA),
    "retrain request": layout.retrain_request("flights-delay", "6f1c2b1e-0000-5000-8000-000000000000"),
    "retrain outcome": layout.retrain_outcome("flights-delay", "6f1c2b1e-0000-5000-8000-000000000000"),
}


def test_keys_are_valid_and_distinct() -> None:
    assert all(check_key(key) == key for key in KEYS.values())
    assert len(set(KEYS.values())) == len(KEYS)
    assert KEYS["version"] == "registry/flights-delay/versions/0003.json"
    assert KEYS["log entry"] == "registry/flights-delay/log/00000012.json"


def _documented_patterns() -> list[re.Pattern[str]]:
    """The key patterns of the fenced block under '## Store layout', `<placeholders>` as wildcards."""
    text = (REPO / "docs" / "architecture.md").read_text()
    block = text.split("## Store layout", 1)[1].split("```", 2)[1]
    patterns = []
    for line in block.strip().splitlines():
        key = line.split()[0]
        if key.startswith("_prefect"):
            continue
        parts = re.split(r"(<[^>]+>)", key)
        regex = "".join("[^/]+" if part.startswith("<") else re.escape(part) for part in parts)
        patterns.append(re.compile(f"^{regex}" + (".*" if key.endswith("/") else "$")))
    return patterns


def test_every_key_is_documented_and_every_documented_key_is_made() -> None:
    patterns = _documented_patterns()
    undocumented = [name for name, key in KEYS.items() if not any(p.match(key) for p in patterns)]
    assert undocumented == []
    unused = [p.pattern for p in patterns if not any(p.match(key) for key in KEYS.values())]
    assert unused == []
