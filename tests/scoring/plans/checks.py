"""The equality a plan must reach with its estimator, as the proof at register will ask:
every prediction equal, every probability, decision value or regression value within 1e-9
relative (exact where the estimator's is 0)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import PlanReader, PlanWriter
from chalicelib.scoring.plans._heads import load_head, plan_head

RTOL = 1e-9


def planned(estimator: Any) -> Any:
    """The estimator's head as serving would load it: spec through JSON, arrays through .npz."""
    import json

    writer = PlanWriter()
    spec = json.loads(json.dumps(plan_head(estimator, writer)))
    return load_head(spec, PlanReader(writer.save()))


def close(actual: np.ndarray, expected: np.ndarray) -> bool:
    """Within RTOL of `expected`, relative to each value; equal where it is 0 or not finite."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return False
    both_nan = np.isnan(actual) & np.isnan(expected)
    within = np.abs(actual - expected) <= RTOL * np.abs(expected)
    return bool(np.all(within | both_nan | (actual == expected)))


def assert_same(estimator: Any, X: np.ndarray) -> None:
    """The planned head answers as the estimator does on X."""
    head = planned(estimator)
    predictions, expected = head.predict(X), estimator.predict(X)
    if getattr(estimator, "classes_", None) is not None:
        assert np.array_equal(predictions, expected), "predictions differ"
    else:
        assert close(predictions, expected), "predicted values differ"
    for method in ("predict_proba", "decision_function"):
        if hasattr(estimator, method) and hasattr(head, method):
            assert close(getattr(head, method)(X), getattr(estimator, method)(X)), method
    if getattr(estimator, "classes_", None) is not None:
        assert np.array_equal(head.classes, estimator.classes_)
