"""The stage's CloudWatch dashboard: traffic, latency, errors, batch, drift and accuracy.

Model, version, consumer and feature are dimensions of the app's metrics, so the widgets use
SEARCH expressions: a model registered after the deploy shows up without a redeploy.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import NAMESPACE

ALARM_NAMES = (
    "api-5xx-rate",
    "api-p99-latency",
    "batch-dlq-not-empty",
    "batch-files-failed",
    "model-drift",
    "accuracy-below-floor",
    "monitor-failures",
    "monitor-errors",
)
WIDTH = 12
HEIGHT = 6


def dashboard_body() -> dict[str, Any]:
    """The DashboardBody property: a JSON string with the stack's names substituted."""
    widgets = [
        _text(
            "# sklambda ${AWS::StackName}\n"
            "Traffic and latency by model, version and consumer; errors; batch scoring; "
            "drift per feature and accuracy from the scheduled monitor."
        ),
        _alarms(),
        _search("Requests by model, version and consumer", "RequestCount", "Sum", 300),
        _search("Latency p99 (ms) by model, version and consumer", "Latency", "p99", 300),
        _search(
            "Errors by model and reason (5xx)",
            "5xxErrors",
            "Sum",
            300,
            dimensions="Consumer,Model,Reason",
        ),
        _search(
            "Rejected requests by model and reason (4xx)",
            "4xxErrors",
            "Sum",
            300,
            dimensions="Consumer,Model,Reason",
        ),
        _metrics(
            "API Gateway",
            [
                ["AWS/ApiGateway", "Count", "ApiName", "${AWS::StackName}", {"stat": "Sum"}],
                ["AWS/ApiGateway", "5XXError", "ApiName", "${AWS::StackName}", {"stat": "Sum"}],
                ["AWS/ApiGateway", "4XXError", "ApiName", "${AWS::StackName}", {"stat": "Sum"}],
                ["AWS/ApiGateway", "Latency", "ApiName", "${AWS::StackName}", {"stat": "p99"}],
            ],
            300,
        ),
        _search(
            "Batch rows scored by model",
            "BatchRowsScored",
            "Sum",
            3600,
            dimensions="Model,Submitter,Version",
        ),
        _search(
            "Batch rows rejected and files failed",
            "BatchRowsRejected",
            "Sum",
            3600,
            dimensions="Model,Submitter,Version",
            also=["BatchFilesFailed"],
        ),
        _metrics(
            "Batch queue and dead letters",
            [
                _queue("ApproximateNumberOfMessagesVisible", "${AWS::StackName}-batch"),
                _queue("ApproximateAgeOfOldestMessage", "${AWS::StackName}-batch"),
                _queue("ApproximateNumberOfMessagesVisible", "${AWS::StackName}-batch-dlq"),
            ],
            300,
        ),
        _search(
            "Drift per feature (PSI; 0.2 = drift)",
            "FeatureDriftPSI",
            "Maximum",
            3600,
            dimensions="Feature,Model,Version",
            line=0.2,
        ),
        _search("Drift flagged (1 = drift)", "DriftDetected", "Maximum", 3600, dimensions=_MV),
        _search(
            "Accuracy over time (accuracy, ROC AUC, R2)",
            "Accuracy",
            "Average",
            3600,
            dimensions=_MV,
            also=["RocAuc", "R2"],
        ),
        _search("Labelled rows per monitor run", "LabelledCount", "Sum", 3600, dimensions=_MV),
        _metrics(
            "Functions: errors and throttles",
            [
                ["AWS/Lambda", metric, "FunctionName", f"${{AWS::StackName}}-{fn}", {"stat": "Sum"}]
                for fn in ("api", "batch", "monitor")
                for metric in ("Errors", "Throttles")
            ],
            300,
        ),
        _metrics(
            "Functions: p99 duration (ms)",
            [
                ["AWS/Lambda", "Duration", "FunctionName", f"${{AWS::StackName}}-{fn}"]
                + [{"stat": "p99"}]
                for fn in ("api", "batch", "monitor")
            ],
            300,
        ),
    ]
    for index, widget in enumerate(widgets):
        widget.setdefault("x", (index % 2) * WIDTH)
        widget.setdefault("y", (index // 2) * HEIGHT)
        widget.setdefault("width", WIDTH)
        widget.setdefault("height", HEIGHT)
    return {"Fn::Sub": json.dumps({"widgets": widgets}, separators=(",", ":"))}


_MV = "Model,Version"


def _text(markdown: str) -> dict[str, Any]:
    return {"type": "text", "properties": {"markdown": markdown}}


def _alarms() -> dict[str, Any]:
    arn = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
    return {
        "type": "alarm",
        "properties": {
            "title": "Alarms",
            "alarms": [f"{arn}${{AWS::StackName}}-{name}" for name in ALARM_NAMES],
        },
    }


def _search(
    title: str,
    metric: str,
    stat: str,
    period: int,
    *,
    dimensions: str = "Consumer,Model,Version",
    also: list[str] | None = None,
    line: float | None = None,
) -> dict[str, Any]:
    names = " OR ".join(f'MetricName="{m}"' for m in [metric, *(also or [])])
    expression = f"SEARCH('{{{NAMESPACE},{dimensions}}} {names}', '{stat}', {period})"
    properties: dict[str, Any] = {
        "title": title,
        "region": "${AWS::Region}",
        "view": "timeSeries",
        "period": period,
        "metrics": [[{"expression": expression, "id": "e1"}]],
    }
    if line is not None:
        properties["annotations"] = {"horizontal": [{"value": line, "label": "threshold"}]}
    return {"type": "metric", "properties": properties}


def _metrics(title: str, metrics: list[list[Any]], period: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "period": period,
            "metrics": metrics,
        },
    }


def _queue(metric: str, name: str) -> list[Any]:
    return ["AWS/SQS", metric, "QueueName", name, {"stat": "Maximum"}]
