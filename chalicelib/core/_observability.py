"""Structured logs (aws-lambda-powertools) and CloudWatch metrics (EMF).

Metrics leave as one EMF line on stdout per request: CloudWatch turns it into metrics with no
API call on the request path. Namespace `sklambda`; dimensions Model, Version and Consumer.
The line is written here, in the document form powertools' metrics provider writes, rather
than through it: its per-metric validation and debug logging cost more than scoring a linear
model, on every request.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

NAMESPACE = "sklambda"

# Metric names: contracts for alarms and dashboards.
REQUEST_COUNT = "RequestCount"
RECORDS_SCORED = "RecordsScored"
LATENCY = "Latency"
CLIENT_ERRORS = "4xxErrors"
SERVER_ERRORS = "5xxErrors"
CAPTURE_FAILURES = "CaptureFailures"
UNKNOWN_CATEGORIES = "UnknownCategories"
SHADOW_FAILURES = "ShadowFailures"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "sklambda"))


def publish(
    dimensions: Mapping[str, str],
    counts: Mapping[str, float] | None = None,
    milliseconds: Mapping[str, float] | None = None,
    seconds: Mapping[str, float] | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Emit one EMF document: counts and durations under these dimensions.

    `context` rides along as plain properties (request id, alias, ...): the same line is the
    request's structured log entry, searchable in Logs Insights, at no extra cost. Nothing is
    written without a metric (CloudWatch would reject the document).
    """
    line = emf_line(dimensions, counts, milliseconds, seconds, context, time.time())
    if line is not None:
        sys.stdout.write(line + "\n")


def emf_line(
    dimensions: Mapping[str, str],
    counts: Mapping[str, float] | None,
    milliseconds: Mapping[str, float] | None,
    seconds: Mapping[str, float] | None,
    context: Mapping[str, Any] | None,
    now: float,
) -> str | None:
    """The EMF document of `publish` as one JSON line; None when it has no metric."""
    definitions: list[dict[str, str]] = []
    values: dict[str, list[float]] = {}
    for unit, metrics in (("Count", counts), ("Milliseconds", milliseconds), ("Seconds", seconds)):
        for name, value in (metrics or {}).items():
            definitions.append({"Name": name, "Unit": unit})
            values[name] = [float(value)]
    if not definitions:
        return None
    labels = {name: str(label) or "-" for name, label in dimensions.items()}
    document = {
        "_aws": {
            "Timestamp": int(now * 1000),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [list(labels)], "Metrics": definitions}
            ],
        },
        **labels,
        **(context or {}),
        **values,
    }
    return json.dumps(document, separators=(",", ":"), default=str)
