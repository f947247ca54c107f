"""The store's layout: every key driftloop reads or writes is made here, and nowhere else.

`docs/architecture.md` shows the same table; `tests/driftloop/core/test_layout.py` keeps the two in step.
Data keys are per data set (the contract's name), registry keys per model name.
"""

from __future__ import annotations

from driftloop.core.storage import check_key

# --- data versions and the gate ---------------------------------------------------------------------


def batch(dataset: str, period: str, sha256: str) -> str:
    """An immutable data version: the batch's Parquet bytes, named by their SHA-256."""
    return check_key(f"data/{dataset}/batches/{period}/{sha256}.parquet")


def batches(dataset: str, period: str) -> str:
    return check_key(f"data/{dataset}/batches/{period}")


def validated(dataset: str, period: str) -> str:
    """The record of the period's data version that passed the gate: what training and scoring read."""
    return check_key(f"data/{dataset}/validated/{period}.json")


def validated_history(dataset: str, period: str, sha256: str) -> str:
    """Every data version that ever passed for a period, with when and what it replaced."""
    return check_key(f"data/{dataset}/history/{period}/{sha256}.json")


def gate_report(dataset: str, sha256: str) -> str:
    """The gate's report for one data version, pass or fail."""
    return check_key(f"data/{dataset}/reports/{sha256}.json")


def quarantine(dataset: str, period: str, entry: str) -> str:
    """One quarantined batch: `entry` is `<arrival time>-<sha256 prefix>`, so no report overwrites another."""
    return check_key(f"quarantine/{dataset}/{period}/{entry}")


def quarantine_root(dataset: str) -> str:
    return check_key(f"quarantine/{dataset}")


QUARANTINED_BATCH = "batch.parquet"
QUARANTINE_REPORT = "report.json"

# --- scoring and monitoring -------------------------------------------------------------------------


def predictions(dataset: str, period: str, model: str, version: int) -> str:
    return check_key(f"predictions/{dataset}/{period}/{model}-v{version:04d}.parquet")


def _served(served: bool) -> str:
    return "-served" if served else ""


def drift_report(dataset: str, period: str, model: str, version: int, served: bool = False) -> str:
    """Evidently's standalone HTML report (`-served`: on what the service served in the period)."""
    return check_key(f"reports/drift/{dataset}/{period}/{model}-v{version:04d}{_served(served)}.html")


def monitoring_verdict(dataset: str, period: str, model: str, version: int, served: bool = False) -> str:
    """The typed monitoring verdict as JSON (`-served`: on the prediction log, beside the batch's)."""
    return check_key(f"reports/drift/{dataset}/{period}/{model}-v{version:04d}{_served(served)}.json")


def retrain_decision(dataset: str, period: str, model: str, served: bool = False) -> str:
    """The policy's decision on a period (create-only: one decision, so at most one retrain, per period and
    per what was monitored, the batch or the served log)."""
    return check_key(f"reports/policy/{dataset}/{period}/{model}{_served(served)}.json")


def replay_timeline(dataset: str) -> str:
    return check_key(f"reports/lifecycle/{dataset}/timeline.png")


def backtest_report(dataset: str, name: str) -> str:
    """The latest backtest's `backtest.json` and `backtest.png`."""
    return check_key(f"reports/backtest/{dataset}/{name}")


# --- online serving ---------------------------------------------------------------------------------


def prediction_log_root(dataset: str, model: str) -> str:
    """Every day of a model name's prediction log."""
    return check_key(f"prediction-log/{dataset}/{model}")


def prediction_log_day(dataset: str, model: str, day: str) -> str:
    """The online predictions served on one UTC day (`YYYY-MM-DD`), one file per flush of a writer."""
    return check_key(f"prediction-log/{dataset}/{model}/{day}")


def prediction_log(dataset: str, model: str, day: str, name: str) -> str:
    """One flush of a service worker's prediction log; `name` is `<HHMMSSffffff>-<writer>-<seq>`."""
    return check_key(f"{prediction_log_day(dataset, model, day)}/{name}.parquet")


def refusal_log_root(dataset: str, model: str) -> str:
    """Every day of a model name's refusal log."""
    return check_key(f"refusal-log/{dataset}/{model}")


def refusal_log(dataset: str, model: str, day: str, name: str | None = None) -> str:
    """The requests the service refused on one UTC day (`YYYY-MM-DD`); with `name`, one flush of a
    writer (`<HHMMSSffffff>-<writer>-<seq>`, as the prediction log's)."""
    folder = f"refusal-log/{dataset}/{model}/{day}"
    return check_key(folder if name is None else f"{folder}/{name}.parquet")


# --- the registry: one folder per model name --------------------------------------------------------


def registry(model: str, *parts: str) -> str:
    """`registry/<model>/<parts…>`: the folders are `objects`, `versions`, `log`, `evaluations`, `claims`."""
    return check_key("/".join(["registry", model, *parts]))


def registry_blob(model: str, sha256: str) -> str:
    """Immutable, content-addressed bytes: model text, feature spec, card, reference sample, contract."""
    return registry(model, "objects", sha256)


def registry_version(model: str, version: int) -> str:
    """A version's manifest; written last and create-only, it is the commit point."""
    return registry(model, "versions", f"{version:04d}.json")


def promotion_entry(model: str, seq: int) -> str:
    """One create-only entry of the promotion log: the truth about who was champion when."""
    return registry(model, "log", f"{seq:08d}.json")


def champion_pointer(model: str) -> str:
    """The `champion` alias, moved forward by compare-and-swap."""
    return registry(model, "champion.json")


def evaluation(model: str, version: int) -> str:
    """A challenger's first evaluation and promotion decision."""
    return registry(model, "evaluations", f"{version:04d}.json")


def rejudgement(model: str, version: int, champion: int | None) -> str:
    """A version judged again, against a champion other than its first evaluation's (None: no champion)."""
    against = f"v{champion:04d}" if champion is not None else "none"
    return registry(model, "evaluations", f"{version:04d}-against-{against}.json")


def retrain_request(model: str, event_id: str) -> str:
    """A drift event: "pending" when monitoring emits it, then taken by one retrain run (accepted, stale)."""
    return registry(model, "retrains", f"{event_id}.json")


def retrain_outcome(model: str, event_id: str) -> str:
    """What the training started by that event produced."""
    return registry(model, "retrains", f"{event_id}.outcome.json")


def registration_claim(model: str, model_sha256: str) -> str:
    """Create-only marker: one writer is registering these model bytes."""
    return registry(model, "claims", f"{model_sha256}.json")


PREFECT_RESULTS = "_prefect_results"
"""Folder of Prefect's cached task results inside a local store (so deleting the store forgets them)."""
