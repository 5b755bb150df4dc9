"""The benchmark's measures, pure: two scorers on the same rows, ratios candidate/baseline."""

from __future__ import annotations

import pytest

from chalicelib.core import InvalidInputError
from chalicelib.scoring import Scorer, json_records, measure
from chalicelib.scoring._benchmark import percentile
from chalicelib.stats import infer_signature
from sklambda.sample_data import FEATURES, TARGET
from tests.models import fitted_logreg, training_frame
from tests.trainers import big_forest


def scorers() -> tuple[Scorer, Scorer]:
    frame = training_frame()
    logreg = fitted_logreg()
    metadata = dict(infer_signature(logreg, frame, TARGET))
    forest = big_forest(frame[[*FEATURES, TARGET]], TARGET, logreg)
    return Scorer("churn", 2, forest, metadata), Scorer("churn", 1, logreg, metadata)


def test_a_slow_candidate_measures_slower_on_the_same_rows() -> None:
    forest, logreg = scorers()
    records = json_records(training_frame()[FEATURES], 300)

    result = measure(forest, logreg, records, singles=40, batches=2, batch_rows=200)

    assert result.rows == 200 and result.singles == 40
    assert result.ratios["p99_ms"] is not None and result.ratios["p99_ms"] > 3
    assert result.ratios["p50_ms"] is not None and result.ratios["p50_ms"] > 3
    assert result.candidate.records_per_s > 0 and result.baseline.peak_mib > 0
    stored = result.to_dict(version=2, against_version=1, at="t", rows_from="test")
    assert stored["baseline"]["p99_ms"] == round(result.baseline.p99_ms, 4)
    assert stored["against_version"] == 1 and "tracemalloc" in stored["memory"]


def test_no_rows_is_refused_and_percentiles_interpolate() -> None:
    forest, logreg = scorers()
    with pytest.raises(InvalidInputError, match="no rows"):
        measure(forest, logreg, [])
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([1.0, 2.0], 0.99) == pytest.approx(1.99)
