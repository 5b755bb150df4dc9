"""Who used each model: API requests and records scored per consumer over the last days, read
back from the CloudWatch metrics the API emits (EMF, namespace `sklambda`, dimensions Model,
Version, Consumer; see core/_observability.py).

Two kinds of calls, whatever the number of models: ListMetrics once (paginated) to find the
Model/Version/Consumer combinations with data, then GetMetricData in batches of 500 queries,
daily sums over the period.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, TypedDict

from chalicelib.core import NAMESPACE, RECORDS_SCORED, REQUEST_COUNT

_DIMENSIONS = {"Model", "Version", "Consumer"}
_MAX_QUERIES = 500  # GetMetricData's limit per call
_DAY = 86_400


class ConsumerUsage(TypedDict):
    """One consumer's use of one model over the period."""

    consumer: str
    requests: int
    records: int


class ModelUsage(TypedDict):
    """One model's use over the period: per consumer, per version, in total."""

    requests: int
    records: int
    consumers: list[ConsumerUsage]  # most records first
    versions: dict[str, int]  # records per version


class UsageMetrics:
    """Reads the API's usage metrics back from CloudWatch."""

    def __init__(self, cloudwatch: Any) -> None:
        self._cloudwatch = cloudwatch

    def by_model(self, start: datetime, end: datetime) -> dict[str, ModelUsage]:
        """Every model with API traffic between `start` and `end`, and who sent it."""
        series = self._series()
        if not series:
            return {}
        # Whole minutes, CloudWatch's resolution here: the current minute's data counts too.
        start = start.replace(second=0, microsecond=0)
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
        sums: dict[tuple[str, str, str, str], float] = {}
        queries = [(metric, dims) for dims in series for metric in (REQUEST_COUNT, RECORDS_SCORED)]
        for first in range(0, len(queries), _MAX_QUERIES):
            batch = queries[first : first + _MAX_QUERIES]
            for index, value in self._sums(batch, start, end).items():
                metric, dims = batch[index]
                sums[(dims["Model"], dims["Version"], dims["Consumer"], metric)] = value
        return usage_by_model(sums)

    def _series(self) -> list[dict[str, str]]:
        """The Model/Version/Consumer combinations that have records scored (and requests)."""
        found = []
        paginator = self._cloudwatch.get_paginator("list_metrics")
        for page in paginator.paginate(Namespace=NAMESPACE, MetricName=RECORDS_SCORED):
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if set(dims) == _DIMENSIONS:
                    found.append(dims)
        return found

    def _sums(
        self, queries: list[tuple[str, dict[str, str]]], start: datetime, end: datetime
    ) -> dict[int, float]:
        """Query index → the metric's sum over the period (daily sums added up)."""
        request: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": f"q{index}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                        },
                        "Period": _DAY,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for index, (metric, dims) in enumerate(queries)
            ],
            "StartTime": start,
            "EndTime": end,
        }
        sums: dict[int, float] = defaultdict(float)
        while True:
            answer = self._cloudwatch.get_metric_data(**request)
            for result in answer.get("MetricDataResults", []):
                sums[int(result["Id"][1:])] += float(sum(result.get("Values", [])))
            token = answer.get("NextToken")
            if not token:
                return dict(sums)
            request["NextToken"] = token


def usage_by_model(sums: dict[tuple[str, str, str, str], float]) -> dict[str, ModelUsage]:
    """(model, version, consumer, metric) → sum, as each model's usage."""
    per_consumer: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: {REQUEST_COUNT: 0.0, RECORDS_SCORED: 0.0})
    )
    per_version: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (model, version, consumer, metric), value in sums.items():
        per_consumer[model][consumer][metric] += value
        if metric == RECORDS_SCORED:
            per_version[model][version] += value
    usage: dict[str, ModelUsage] = {}
    for model, consumers in per_consumer.items():
        rows: list[ConsumerUsage] = [
            {
                "consumer": consumer,
                "requests": round(counts[REQUEST_COUNT]),
                "records": round(counts[RECORDS_SCORED]),
            }
            for consumer, counts in consumers.items()
        ]
        rows = [row for row in rows if row["requests"] or row["records"]]
        if not rows:
            continue
        rows.sort(key=lambda row: (-row["records"], -row["requests"], row["consumer"]))
        usage[model] = {
            "requests": sum(row["requests"] for row in rows),
            "records": sum(row["records"] for row in rows),
            "consumers": rows,
            "versions": {
                version: round(records)
                for version, records in sorted(per_version[model].items())
                if records
            },
        }
    return usage
