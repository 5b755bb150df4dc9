"""A measured metric next to the value recorded when the version was registered.

An owner judges "0.81" only against what the model promised: the registration metrics in the
version's metadata (the report's `registered_metrics`). The difference is said in words, in
points for metrics read as shares (accuracy 0.91 → 0.89 is "2.0 points below registration").
"""

from __future__ import annotations

from typing import Any

from chalicelib.monitoring.report._format import NO_LABELS, fmt_metric
from chalicelib.monitoring.report._values import as_dict, num, text

# Metrics between 0 and 1 that people read as percentages: their differences are in points.
SHARE_METRICS = frozenset({"accuracy", "roc_auc", "auc", "precision", "recall", "f1", "r2"})
# A difference this small (in the metric's own units) reads as "same as at registration".
SAME = 0.0005


def registered(version: dict[str, Any], metric: Any) -> float | None:
    """The value of `metric` recorded at registration, or None."""
    return num(as_dict(version.get("registered_metrics")).get(text(metric)))


def gap(version: dict[str, Any], metric: Any) -> float | None:
    """Measured minus registered for `metric` (None unless both are known)."""
    measured = num(as_dict(as_dict(version.get("quality")).get("metrics")).get(text(metric)))
    before = registered(version, metric)
    return None if measured is None or before is None else measured - before


def difference_text(metric: Any, difference: float) -> str:
    """'2.1 points below registration', '0.040 above registration', 'same as at registration'."""
    if abs(difference) < SAME:
        return "same as at registration"
    side = "below" if difference < 0 else "above"
    if text(metric) in SHARE_METRICS:
        return f"{abs(difference) * 100:.1f} points {side} registration"
    return f"{fmt_metric(abs(difference))} {side} registration"


def compared(version: dict[str, Any], metric: Any) -> str:
    """A version's measured metric with its registered value and the difference in words:
    '0.810 (registered 0.910: 10.0 points below registration)'. Without labels the measured
    value reads 'no labels yet'; without a registered value it stands alone."""
    quality = as_dict(version.get("quality"))
    measured = as_dict(quality.get("metrics")).get(text(metric))
    labelled = num(quality.get("labelled"))
    shown = fmt_metric(measured, NO_LABELS if not labelled else "not measured")
    bound = num(as_dict(quality.get("error_bounds")).get(text(metric)))
    if measured is not None and bound:  # from score bins: at most this far from exact
        shown = f"{shown} ±{bound:.4f}"
    before = registered(version, metric)
    if before is None:
        return shown
    difference = gap(version, metric)
    if difference is None:
        return f"{shown} (registered {fmt_metric(before)})"
    return f"{shown} (registered {fmt_metric(before)}: {difference_text(metric, difference)})"
