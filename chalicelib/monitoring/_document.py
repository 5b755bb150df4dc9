"""The monitor report (format 1): its typed shape, and what each run carries over from the
previous report (breach counts per feature, the trend of recent runs).

The report is written as JSON under `reports/<model>/`, served by the API
(`/models/{name}/report?format=json`), rendered as a page (`report/`), turned into
CloudWatch datapoints (`_metrics.py`) and read back by the next run. Pure: no AWS.
"""

from __future__ import annotations

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


class ReportAlias(TypedDict):
    version: int
    weight: float | None


class ServingSummary(TypedDict):
    """HTTP requests, server-side errors and latency of one version in the window."""

    requests: int
    errors: int
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class VersionReport(TypedDict):
    """One live version: traffic, drift per feature and of its predictions, quality."""

    version: int
    roles: list[str]
    traffic: dict[str, Any]
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
