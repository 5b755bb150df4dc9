"""Numbers, shares, times and names as the report page spells them.

Every function returns plain text, never markup: the templates escape whatever they insert.
Numbers are re-formatted from floats (never copied through from the report). An absent value
never leaves a blank or a bare dash: it reads as a word a business reader understands
("missing", "none yet", "not measured", "no labels yet"), always through `present`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.core import parse_time
from chalicelib.monitoring.report._values import num, text

# What an absent value reads as; callers pick the word that fits what is absent.
MISSING = "missing"
NONE_YET = "none yet"
NOT_MEASURED = "not measured"
NO_LABELS = "no labels yet"
NO_REQUESTS = "no requests"

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
# One line per drift metric, shown beside the drift table: what the number means, what is large.
METRIC_HELP = {
    "psi": "PSI (population stability index): how much the share of values per bin moved since "
    "training; under 0.1 is stable, 0.1–0.2 a moderate shift, above 0.2 a large one.",
    "js": "JS distance (Jensen–Shannon): how different the two distributions are, from 0 "
    "(identical) to 1 (no overlap); above 0.2 is large.",
    "wasserstein": "Wasserstein: how far numeric values moved, in standard deviations of the "
    "training data (0.5 is half a standard deviation, above 0.5 is large); not computed for "
    "categories.",
}
TRIGGERS = {"schedule": "Scheduled run", "cli": "Manual run (sklambda monitor)"}


def present(value: Any, show: Callable[[float], str], absent: str = MISSING) -> str:
    """`show(value)` for a finite number, else the word for what is absent.

    The one place an absent value is decided, so every cell of the page reads the same way
    (the report is untrusted: null, NaN, text or a boolean all count as absent).
    """
    number = num(value)
    return absent if number is None else show(number)


# Identifiers that mean nothing to a reader (UUIDs, event ids, etags, long hex digests): the
# JSON keeps them, the page's free text (reasons, errors) drops them. A digest mixes letters
# and digits; a long run of digits alone is a number (or a feature's name), and stays.
_IDS = re.compile(
    r'"?\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"?'
    r'|"?\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{16,}\b"?'
)


def without_ids(value: Any) -> str:
    """Text from the report with identifiers replaced by 'an id'."""
    return _IDS.sub("an id", text(value))


def fmt_count(value: Any, absent: str = MISSING) -> str:
    """'6,200', '12.5' for a fractional count, or the absent word."""
    return present(value, lambda v: f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}", absent)


def fmt_number(value: float) -> str:
    """The shortest general form: '24', '1.5'."""
    return f"{value:g}"


def fmt_metric(value: Any, absent: str = NOT_MEASURED) -> str:
    """A metric with as many decimals as its size warrants: '0.312', '12.4', '1,234'."""
    return present(value, _metric, absent)


def _metric(number: float) -> str:
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 10:
        return f"{number:.1f}"
    return f"{number:.3f}"


def fmt_limit(value: Any) -> str:
    """A threshold: '0.2', or 'off' when it is not checked."""
    return present(value, lambda v: f"{v:g}", "off")


def fmt_share(value: Any, absent: str = NOT_MEASURED) -> str:
    """A share of 1 as a percentage: '12.5%', '<0.1%' for a sliver, or the absent word."""
    return present(value, lambda v: "<0.1%" if 0 < v < 0.001 else f"{v * 100:.1f}%", absent)


def fmt_compact(value: float) -> str:
    """An axis count with a suffix: '6.2k', '1.5M'."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def fmt_ms(value: Any, absent: str = NO_REQUESTS) -> str:
    """A latency: '4.2 ms', or the absent word (no latency without requests)."""
    return present(value, lambda v: f"{v:g} ms", absent)


def fmt_text(value: Any, absent: str = MISSING) -> str:
    """Text from the report, or the absent word when it is empty."""
    return text(value) or absent


def fmt_time(value: Any) -> str:
    """A timestamp as '23 Nov 2026, 10:00 UTC'; other text as is; 'missing' when absent."""
    moment = parse_time(value)
    if moment is None:
        return fmt_text(value)
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
    """The missing share in this window, then in training: '1.0% (0.0%)' ('not measured' when
    absent: 'missing' would be ambiguous in a column about missing values)."""
    current = fmt_share(num(feature.get("missing_rate")))
    reference = fmt_share(num(feature.get("reference_missing_rate")))
    return f"{current} ({reference})"
