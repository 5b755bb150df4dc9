"""Numbers, shares, times and names as the report page spells them.

Every function returns plain text, never markup: the templates escape whatever they insert.
Numbers are re-formatted from floats (never copied through from the report), and a missing
value reads as an en dash.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import parse_time
from chalicelib.monitoring.report._values import num, text

DASH = "–"

STATUS_TEXT = {"drift": "Drift detected", "ok": "OK", "not_enough_data": "Not enough data"}
STATE_TEXT = {
    "ok": "ok",
    "breach": "breach",
    "drifted": "drifted",
    "not_enough_data": "not enough data",
}
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
}
# The drift metrics, in the order of the tables' columns.
METRIC_LABELS = {"psi": "PSI", "js": "JS", "wasserstein": "Wasserstein"}
TRIGGERS = {"schedule": "Scheduled run", "cli": "Manual run (sklambda monitor)"}


def fmt_count(value: float | None) -> str:
    """'6,200', '12.5' for a fractional count, or a dash."""
    if value is None:
        return DASH
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_number(value: float) -> str:
    """The shortest general form: '24', '1.5'."""
    return f"{value:g}"


def fmt_metric(value: Any) -> str:
    """A metric with as many decimals as its size warrants: '0.312', '12.4', '1,234'."""
    number = num(value)
    if number is None:
        return DASH
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.3f}"


def fmt_limit(value: Any) -> str:
    """A threshold: '0.2', or 'off' when it is not checked."""
    number = num(value)
    return "off" if number is None else f"{number:g}"


def fmt_share(value: float | None) -> str:
    """A share of 1 as a percentage: '12.5%', '<0.1%' for a sliver, or a dash."""
    if value is None:
        return DASH
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value * 100:.1f}%"


def fmt_compact(value: float) -> str:
    """An axis count with a suffix: '6.2k', '1.5M'."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def fmt_ms(value: float | None) -> str:
    """A latency: '4.2 ms', or a dash."""
    return DASH if value is None else f"{value:g} ms"


def fmt_time(value: Any) -> str:
    """A timestamp as '23 Nov 2026, 10:00 UTC'; other text as is; a dash when absent."""
    moment = parse_time(value)
    if moment is None:
        return text(value) if value else DASH
    return moment.strftime("%d %b %Y, %H:%M UTC").lstrip("0")


def fmt_axis_time(value: Any) -> str:
    """A timestamp as '23 Nov 10:00' for chart axes; other text as is."""
    moment = parse_time(value)
    if moment is None:
        return text(value)
    return moment.strftime("%d %b %H:%M").lstrip("0")


def metric_name(metric: Any) -> str:
    """'ROC AUC' for roc_auc; an unknown metric's name made readable."""
    name = text(metric)
    return METRIC_NAMES.get(name, name.replace("_", " ").capitalize())


def limit_text(metric: str, value: Any) -> str:
    """'PSI ≥ 0.2', or 'PSI off' when the metric is not checked."""
    label = METRIC_LABELS.get(metric, metric)
    return f"{label} ≥ {fmt_limit(value)}" if num(value) is not None else f"{label} off"


def missing_text(feature: dict[str, Any]) -> str:
    """The missing share in this window, then in training: '1.0% (0.0%)'."""
    current = fmt_share(num(feature.get("missing_rate")))
    reference = fmt_share(num(feature.get("reference_missing_rate")))
    return f"{current} ({reference})"
