"""Accuracy to expect before labels arrive: confidence-based performance estimation.

For a classifier whose probabilities are calibrated, the chance that a prediction is right is
the probability the model gave the class it predicted; the mean of those over the records of
a window is the accuracy to expect on them (the idea of NannyML's CBPE, for accuracy). It
follows shifts in the inputs (covariate drift) as they move records towards or away from the
model's confident regions, but it cannot see concept drift: if the same inputs now lead to
other outcomes, the model is as confident and as wrong as ever. So it is reported as an
estimate, beside measured accuracy, never instead of it.

The state is a sum and a count, so estimates of separate slices of traffic add up exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

CAVEAT = (
    "estimated from the model's own probabilities: right only if they are calibrated, and "
    "blind to concept drift (the same inputs now leading to other outcomes); labels tell"
)


class ConfidenceEstimate:
    """Sum and count of the probability of each predicted class."""

    def __init__(self, total: float = 0.0, records: int = 0) -> None:
        self.total = total
        self.records = records

    def add(self, confidences: Iterable[float | None]) -> None:
        """Each record's probability of its predicted class; None or NaN is skipped (a record
        without probabilities, e.g. an error)."""
        for value in confidences:
            if value is not None and not math.isnan(value):
                self.total += float(value)
                self.records += 1

    def merge(self, other: ConfidenceEstimate) -> None:
        """Add another slice of traffic's estimate to this one."""
        self.total += other.total
        self.records += other.records

    def result(self, min_records: int) -> dict[str, Any] | None:
        """The estimate for the report; None below `min_records` (it would be noise)."""
        if self.records < max(min_records, 1):
            return None
        return {
            "accuracy": round(self.total / self.records, 6),
            "records": self.records,
            "method": "confidence-based",
            "caveat": CAVEAT,
        }


def predicted_confidence(prediction: Any, probabilities: Mapping[str, float] | None) -> Any:
    """The probability a record's model gave the class it predicted (None without one)."""
    if not probabilities or prediction is None:
        return None
    value = probabilities.get(str(prediction))
    return float(value) if isinstance(value, int | float) else None
