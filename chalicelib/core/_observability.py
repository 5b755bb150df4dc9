"""Structured logs and CloudWatch metrics (EMF, through aws-lambda-powertools).

Metrics leave as one EMF line on stdout per request: CloudWatch turns it into metrics with no
API call on the request path. Namespace `sklambda`; dimensions Model, Version and Consumer.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

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


@functools.cache
def _emitter() -> EphemeralMetrics:
    # One provider per process: flushing clears it, and building one per request costs more
    # than scoring a linear model.
    return EphemeralMetrics(namespace=NAMESPACE)


def publish(
    dimensions: Mapping[str, str],
    counts: Mapping[str, float] | None = None,
    milliseconds: Mapping[str, float] | None = None,
    seconds: Mapping[str, float] | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Emit one EMF document: counts and durations under these dimensions.

    `context` rides along as plain properties (request id, alias, ...): the same line is the
    request's structured log entry, searchable in Logs Insights, at no extra cost.
    """
    metrics = _emitter()
    for dimension, label in dimensions.items():
        metrics.add_dimension(name=dimension, value=str(label) or "-")
    for name, count in (counts or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    for name, duration in (milliseconds or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=duration)
    for name, duration in (seconds or {}).items():
        metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=duration)
    for key, value in (context or {}).items():
        metrics.add_metadata(key=key, value=value)
    metrics.flush_metrics()
