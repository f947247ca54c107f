"""The service's metrics in process: a batch of probabilities counted as one observation each, the serving
gauge moved on a swap, and multiprocess mode refused when prometheus-client cannot honour it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftloop.online.metrics import ServiceMetrics


def samples(metrics: ServiceMetrics, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name.startswith(prefix) and not sample.name.endswith("_created")
    }


def test_a_batch_of_probabilities_counts_as_observing_each_one() -> None:
    probabilities = np.concatenate([np.random.default_rng(7).random(997), [0.0, 0.05, 0.1, 1.0]])
    batch, one_by_one = ServiceMetrics("m"), ServiceMetrics("m")

    batch.scored("v1", probabilities, {})
    for probability in probabilities:  # prometheus-client's own observe, one value at a time
        one_by_one.probabilities.labels("v1").observe(float(probability))

    counted = samples(batch, "driftloop_prediction_probability")
    observed = samples(one_by_one, "driftloop_prediction_probability")
    sums = [key for key in counted if key[0].endswith("_sum")]
    assert {k: v for k, v in counted.items() if k not in sums} == {
        k: v for k, v in observed.items() if k not in sums
    }
    assert counted[sums[0]] == pytest.approx(observed[sums[0]], rel=1e-12)
    assert counted[("driftloop_prediction_probability_bucket", (("le", "0.05"), ("version", "v1")))] == (
        int((probabilities <= 0.05).sum())  # a value on a bound is in that bucket
    )


def test_a_swap_moves_the_worker_from_one_version_to_the_next() -> None:
    metrics = ServiceMetrics("flights-delay")
    metrics.now_serving("v1")
    metrics.now_serving("v2")

    assert samples(metrics, "driftloop_serving_model") == {
        ("driftloop_serving_model", (("model", "flights-delay"), ("version", "v1"))): 0.0,
        ("driftloop_serving_model", (("model", "flights-delay"), ("version", "v2"))): 1.0,
    }


def test_multiprocess_mode_needs_the_folder_set_before_prometheus_client_is_imported(tmp_path: Path) -> None:
    with pytest.raises(
        RuntimeError, match="PROMETHEUS_MULTIPROC_DIR is set but prometheus_client was imported"
    ):
        ServiceMetrics("m", folder=str(tmp_path))
