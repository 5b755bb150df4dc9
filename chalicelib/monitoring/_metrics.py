"""The monitor's CloudWatch metrics: built from a report (pure), sent with PutMetricData.

The monitor sends its metrics with PutMetricData rather than as EMF log lines: it runs once
per schedule, the datapoints carry the run's timestamp, and alarms and `sklambda` can read
them as soon as the run ends. Namespace `sklambda`; dimensions Model and Version, plus Feature
for per-feature drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.core import NAMESPACE

# Metric names: contracts for alarms and dashboards.
FEATURE_PSI = "FeatureDriftPSI"
FEATURE_JS = "FeatureDriftJS"
FEATURE_WASSERSTEIN = "FeatureDriftWasserstein"
DRIFTED_SHARE = "DriftedFeatureShare"
DRIFT_DETECTED = "DriftDetected"
PREDICTION_PSI = "PredictionDriftPSI"
PREDICTION_JS = "PredictionDriftJS"
SAMPLE_COUNT = "SampleCount"
LABELLED_COUNT = "LabelledCount"
MONITOR_FAILURES = "MonitorFailures"
# Accuracy to expect from a classifier's own probabilities (no labels needed; an estimate).
ESTIMATED_ACCURACY = "EstimatedAccuracy"
# 1 when a version's accuracy (R2 for regressors) is under its policy's floor, on enough labels.
ACCURACY_BELOW_FLOOR = "AccuracyBelowFloor"
# Quality metrics by the report's name for them.
QUALITY_METRICS = {
    "accuracy": "Accuracy",
    "roc_auc": "RocAuc",
    "log_loss": "LogLoss",
    "precision": "Precision",
    "recall": "Recall",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R2",
}
_PUT_BATCH = 1000  # PutMetricData takes at most 1000 datapoints per call


def report_datapoints(report: Mapping[str, Any], at: datetime) -> list[dict[str, Any]]:
    """Every datapoint of a monitor report, in PutMetricData's MetricData form."""
    model = str(report["model"])
    points: list[dict[str, Any]] = []

    def add(name: str, value: Any, unit: str = "None", **dimensions: str) -> None:
        if value is None:
            return  # not measured this run (not enough data, no labels): no datapoint
        dims = [{"Name": "Model", "Value": model}]
        dims += [{"Name": k, "Value": v} for k, v in dimensions.items()]
        points.append(
            {
                "MetricName": name,
                "Dimensions": dims,
                "Timestamp": at,
                "Value": float(value),
                "Unit": unit,
            }
        )

    for entry in report.get("versions", []):
        version = str(entry["version"])
        add(SAMPLE_COUNT, entry["traffic"]["total"], "Count", Version=version)
        add(LABELLED_COUNT, entry["quality"]["labelled"], "Count", Version=version)
        add(DRIFTED_SHARE, entry.get("drifted_share"), Version=version)
        if entry["status"] != "not_enough_data":
            add(DRIFT_DETECTED, 1 if entry["drift_detected"] else 0, "Count", Version=version)
        for feature in entry.get("features", []):
            for metric, key in ((FEATURE_PSI, "psi"), (FEATURE_JS, "js")):
                add(metric, _enough(feature, key), Version=version, Feature=feature["name"])
            add(
                FEATURE_WASSERSTEIN,
                _enough(feature, "wasserstein"),
                Version=version,
                Feature=feature["name"],
            )
        prediction = entry.get("prediction")
        if prediction:
            add(PREDICTION_PSI, _enough(prediction, "psi"), Version=version)
            add(PREDICTION_JS, _enough(prediction, "js"), Version=version)
        below = entry.get("below_accuracy_floor")
        add(ACCURACY_BELOW_FLOOR, None if below is None else int(below), "Count", Version=version)
        estimated = entry.get("estimated")
        add(ESTIMATED_ACCURACY, estimated["accuracy"] if estimated else None, Version=version)
        for key, value in entry["quality"].get("metrics", {}).items():
            if key in QUALITY_METRICS:
                add(QUALITY_METRICS[key], value, Version=version)
    return points


def failure_datapoint(model: str, at: datetime) -> dict[str, Any]:
    """One failed monitor run of a model."""
    return {
        "MetricName": MONITOR_FAILURES,
        "Dimensions": [{"Name": "Model", "Value": model}],
        "Timestamp": at,
        "Value": 1.0,
        "Unit": "Count",
    }


def put_metrics(cloudwatch: Any, points: Sequence[dict[str, Any]]) -> None:
    """Send datapoints to CloudWatch, a thousand per call."""
    for start in range(0, len(points), _PUT_BATCH):
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=points[start : start + _PUT_BATCH]
        )


def _enough(feature: Mapping[str, Any], key: str) -> Any:
    # Below the minimum sample size a value is noise: it is reported, not published.
    return None if feature.get("state") == "not_enough_data" else feature.get(key)
