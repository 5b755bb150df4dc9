"""The monitor report (format 1): its typed shape, and what each run carries over from the
previous report (breach counts per feature, the trend of recent runs).

The report is written as JSON under `reports/<model>/`, served by the API
(`/models/{name}/report?format=json`), rendered as a page (`report/`), turned into
CloudWatch datapoints (`_metrics.py`) and read back by the next run. Pure: no AWS.

Words: a record is one row scored; a request is one HTTP call to the API, which may carry many
records. Fields are never renamed or removed (other tools read them); where an old name is
ambiguous a clearer one is added beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

REPORT_FORMAT = 1
TREND_RUNS = 48  # runs of history carried in each report (two days at the hourly default)


class ReportWindow(TypedDict):
    start: str
    end: str
    hours: int


class ReportRun(TypedDict):
    """Which event asked for the run, and the window it looked at."""

    event_id: str
    trigger: str
    at: str
    window: ReportWindow
    # Quality counts the labelled predictions made since then (the label lookback), each in
    # the hour it was made, whenever its label arrived.
    labels_since: NotRequired[str]


class ReportAlias(TypedDict):
    version: int
    weight: float | None


class TrafficSummary(TypedDict):
    """Records (rows scored) of one version in the window, by where they were scored: `http`
    is records in captured API requests (not a count of requests), `batch` sampled rows of
    batch files, `total` both."""

    http: int
    batch: int
    total: int


class ServingSummary(TypedDict):
    """API requests (HTTP calls, each carrying one or more records), server-side errors and
    latency per request of one version in the window."""

    requests: int  # HTTP calls answered, not records
    errors: int  # HTTP calls that failed with a server error
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    # Per consumer (API key name, "-" without one): records, requests and errors.
    by_consumer: NotRequired[dict[str, dict[str, int]]]


class VersionReport(TypedDict):
    """One live version: traffic, drift per feature and of its predictions, quality."""

    version: int
    roles: list[str]
    traffic: dict[str, Any]  # a TrafficSummary: counts of records, not of requests
    serving: ServingSummary
    status: str  # ok | drift | not_enough_data
    drift_detected: bool
    drifted_share: float | None
    features: list[dict[str, Any]]  # stats.judge's verdict per feature
    prediction: dict[str, Any] | None
    quality: dict[str, Any]  # stats.quality's figures from joined ground truth
    # Accuracy to expect from the predicted probabilities (classifiers; None below the
    # minimum sample size): {"accuracy", "records", "method", "caveat"}.
    estimated: NotRequired[dict[str, Any] | None]
    below_accuracy_floor: NotRequired[bool | None]  # None: no floor, or too few labels
    # The metrics recorded when the version was registered (its metadata's "metrics", numbers
    # only), so the measured `quality.metrics` can be read against what the model promised.
    registered_metrics: NotRequired[dict[str, float]]
    # The version's latest `sklambda benchmark` figures (registry benchmark.json), when any.
    benchmark: NotRequired[dict[str, Any]]
    # Each input feature's importance (mean absolute contribution on the reference sample at
    # register), for versions that are explained.
    importance: NotRequired[dict[str, float]]


class FeedbackSummary(TypedDict):
    received: int
    joined: int
    unusable_rows: int


class MonitorReport(TypedDict):
    """One monitor run of one model."""

    format: int
    model: str
    run: ReportRun
    thresholds: dict[str, Any]
    aliases: dict[str, ReportAlias]
    flagged: bool
    versions: list[VersionReport]
    feedback: FeedbackSummary
    trend: list[dict[str, Any]]
    decisions: NotRequired[list[dict[str, Any]]]  # what the rollout did about it


def registered_metrics(metadata: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics a version was registered with (`metadata["metrics"]`); anything
    else there (text, nested figures, NaN) is left out, as the report is JSON."""
    found = metadata.get("metrics")
    if not isinstance(found, Mapping):
        return {}
    return {
        str(name): float(value)
        for name, value in found.items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


def previous_version(previous: Mapping[str, Any] | None, version: int) -> dict[str, Any] | None:
    """The previous report's entry for `version`, if it had one."""
    for entry in (previous or {}).get("versions", []):
        if entry.get("version") == version:
            return dict(entry)
    return None


def previous_consecutive(before: Mapping[str, Any] | None, feature: str) -> int:
    """How many runs in a row `feature` breached its thresholds up to the previous report."""
    for entry in (before or {}).get("features", []):
        if entry.get("name") == feature:
            return int(entry.get("consecutive") or 0)
    return 0


def trend(previous: Mapping[str, Any] | None, report: MonitorReport) -> list[dict[str, Any]]:
    """The previous report's trend plus this run, at most TREND_RUNS long."""
    point: dict[str, Any] = {"at": report["run"]["at"], "versions": {}}
    for entry in report["versions"]:
        prediction = entry.get("prediction") or {}
        point["versions"][str(entry["version"])] = {
            "samples": entry["traffic"]["total"],
            "records": entry["traffic"]["total"],  # the same count: "samples" reads ambiguously
            "labelled": entry["quality"]["labelled"],
            "drifted_share": entry["drifted_share"],
            "prediction_psi": _psi_if_enough(prediction),
            "features": {f["name"]: _psi_if_enough(f) for f in entry["features"]},
            "quality": dict(entry["quality"].get("metrics", {})),
        }
    earlier = [p for p in (previous or {}).get("trend", []) if str(p.get("at", "")) < point["at"]]
    return [*earlier, point][-TREND_RUNS:]


def _psi_if_enough(feature: Mapping[str, Any]) -> float | None:
    if not feature or feature.get("state") == "not_enough_data":
        return None
    value = feature.get("psi")
    return None if value is None else float(value)
