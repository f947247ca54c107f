"""Stored records: one JSON round trip each, frozen, unknown keys refused, and v0.1 files still load."""

from __future__ import annotations

import math
from pathlib import Path

import pydantic
import pytest

from driftloop.core.settings import TrainingParameters
from driftloop.data.batches import DataVersion
from driftloop.data.gate import ValidatedBatch
from driftloop.data.validation import ValidationReport
from driftloop.lifecycle.step import PeriodOutcome
from driftloop.modelling.metrics import Metrics
from driftloop.registry import Evaluation, Lineage, ModelVersion, PromotionEntry
from driftloop.registry.champion import ChampionPointer

V01 = Path(__file__).resolve().parents[2] / "data" / "store-v0.1"  # files written by release v0.1


def _read(relative: str) -> bytes:
    return (V01 / relative).read_bytes()


def test_a_v01_manifest_loads_with_its_lineage_and_metrics() -> None:
    version = ModelVersion.from_json(_read("registry/flights-delay/versions/0002.json"))
    assert (version.model, version.version, version.label) == ("flights-delay", 2, "v2")
    assert version.lineage.periods == ("2013-02", "2013-03", "2013-04")  # stored as "months"
    assert [v.period for v in version.lineage.data_versions] == ["2013-02", "2013-03", "2013-04"]
    assert version.lineage.training is None and version.lineage.library_versions is None  # newer fields
    assert round(version.metrics.holdout.auc, 4) == 0.6655
    assert version.model_sha256 == version.files.model
    assert (version.files.contract, version.files.yardsticks) == (None, None)  # v0.1 stored neither
    assert ModelVersion.from_json(version.to_json()) == version  # and it round-trips in the new form


def test_v01_log_pointer_evaluation_and_gate_records_load() -> None:
    entry = PromotionEntry.from_json(_read("registry/flights-delay/log/00000002.json"))
    assert (entry.seq, entry.version, entry.previous_version, entry.data_period) == (2, 2, 1, "2013-04")
    assert round(entry.evidence.challenger.auc, 4) == 0.6655  # type: ignore[union-attr]
    pointer = ChampionPointer.from_json(_read("registry/flights-delay/champion.json"))
    assert (pointer.seq, pointer.version) == (7, 8)
    evaluation = Evaluation.from_json(_read("registry/flights-delay/evaluations/0007.json"))
    assert (evaluation.version, evaluation.decision.promote) == (7, False)
    validated = ValidatedBatch.from_json(_read("data/flights/validated/2013-04.json"))
    assert (validated.version.period, validated.version.rows) == ("2013-04", 28330)
    [report] = (V01 / "data" / "flights" / "reports").iterdir()
    assert ValidationReport.from_json(report.read_bytes()).passed
    assert report.name == f"{validated.version.sha256}.json"


def test_records_are_frozen_and_refuse_unknown_keys() -> None:
    version = DataVersion(dataset="d", period="2013-04", sha256="a" * 64, key="k", rows=1)
    with pytest.raises(pydantic.ValidationError):
        version.rows = 2  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="extra"):
        DataVersion.from_json(version.to_json().replace('"rows"', '"typo": 1, "rows"'))


def test_nan_survives_the_round_trip() -> None:
    metrics = Metrics(rows=3, positive_rate=0.0, auc=math.nan, log_loss=0.1, brier=0.0, ece=0.0)
    assert math.isnan(Metrics.from_json(metrics.to_json()).auc)
    row = PeriodOutcome(
        period="2013-04", status="ok", champion="v1", champion_auc=math.nan, original_auc=None,
        drift_index=0.5, drifted=True, retrained=False, promoted=False,
    )  # fmt: skip
    again = PeriodOutcome.from_json(row.to_json())
    assert math.isnan(again.champion_auc) and again.original_auc is None  # type: ignore[arg-type]


def test_a_lineage_reads_its_training_as_written_never_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A manifest written before `explain_rows` existed: a rebuild uses the default, not the shell's."""
    monkeypatch.setenv("DRIFTLOOP_TRAIN_EXPLAIN_ROWS", "17")
    monkeypatch.setenv("DRIFTLOOP_TRAIN_SEED", "5")
    version = ModelVersion.from_json(_read("registry/flights-delay/versions/0002.json"))
    written = version.lineage.model_dump(mode="json")
    written["training"] = {"seed": 42, "num_leaves": 31}  # an older manifest: most fields missing
    lineage = Lineage.model_validate(written)
    assert type(lineage.training) is TrainingParameters  # a plain record, not settings
    assert (lineage.training.seed, lineage.training.num_leaves) == (42, 31)
    assert lineage.training.explain_rows == 1000  # the default, although DRIFTLOOP_TRAIN_EXPLAIN_ROWS=17
    assert lineage.params.seed == 42 and lineage.params.metric == ("binary_logloss", "auc")  # typed fields
