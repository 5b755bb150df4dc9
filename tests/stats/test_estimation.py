"""Confidence-based accuracy estimation: the mean probability of the predicted class, which
matches measured accuracy when the probabilities are calibrated, and adds up over slices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.stats import ConfidenceEstimate, predicted_confidence

probabilities = st.lists(st.one_of(st.none(), st.floats(0.0, 1.0)), max_size=60)


@given(first=probabilities, second=probabilities)
def test_slices_merged_equal_the_whole(first: list, second: list) -> None:
    whole, left, right = ConfidenceEstimate(), ConfidenceEstimate(), ConfidenceEstimate()
    whole.add(first + second)
    left.add(first)
    right.add(second)
    left.merge(right)

    assert left.records == whole.records == sum(v is not None for v in first + second)
    assert left.total == pytest.approx(whole.total)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), classes=st.integers(2, 5))
def test_calibrated_probabilities_estimate_the_measured_accuracy(seed: int, classes: int) -> None:
    # Outcomes drawn from the model's own probabilities: calibrated by construction.
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(classes, 0.7), size=20_000)
    predicted = proba.argmax(axis=1)
    actual = np.array([rng.choice(classes, p=row) for row in proba])
    estimate = ConfidenceEstimate()
    estimate.add(proba[np.arange(len(proba)), predicted].tolist())

    result = estimate.result(min_records=100)

    assert result is not None
    measured = float(np.mean(actual == predicted))
    assert result["accuracy"] == pytest.approx(measured, abs=0.015)  # ~4 standard errors


def test_it_cannot_see_concept_drift_and_says_so() -> None:
    estimate = ConfidenceEstimate()
    estimate.add([0.9] * 200)  # as confident whatever the outcomes are now

    result = estimate.result(min_records=100)

    assert result is not None and result["accuracy"] == 0.9
    assert "concept drift" in result["caveat"] and "calibrated" in result["caveat"]


def test_too_few_records_give_no_estimate() -> None:
    estimate = ConfidenceEstimate()
    estimate.add([0.8] * 99)
    assert estimate.result(min_records=100) is None
    assert ConfidenceEstimate().result(min_records=0) is None


def test_the_predicted_class_is_looked_up_as_text() -> None:
    assert predicted_confidence(1, {"0": 0.3, "1": 0.7}) == 0.7
    assert predicted_confidence("yes", {"no": 0.2, "yes": 0.8}) == 0.8
    assert predicted_confidence(1, None) is None
    assert predicted_confidence(None, {"1": 0.5}) is None
