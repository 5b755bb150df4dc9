"""What CloudWatch Logs does with a function's output, for the embedded AWS.

On Lambda, EMF lines become metrics and capture lines reach Firehose through a subscription
filter. Locally, `StdoutForwarder` sits in front of stdout and does the same: EMF documents
go to CloudWatch `PutMetricData`, capture lines to Firehose `PutRecordBatch`; every line is
still printed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TextIO

from chalicelib.serving import parse_capture_line

_UNITS = {"Milliseconds", "Seconds", "Count", "Bytes", "Percent", "None"}


def emf_metric_data(document: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(namespace, MetricData entries) for each directive of one EMF document."""
    aws = document.get("_aws") or {}
    timestamp = aws.get("Timestamp")
    out = []
    for directive in aws.get("CloudWatchMetrics", []):
        data = []
        for dimension_set in directive.get("Dimensions", []):
            dimensions = [
                {"Name": n, "Value": str(document[n])} for n in dimension_set if n in document
            ]
            for metric in directive.get("Metrics", []):
                values = document.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    if value is None:
                        continue
                    datum: dict[str, Any] = {
                        "MetricName": metric["Name"],
                        "Dimensions": dimensions,
                        "Value": float(value),
                        "Unit": metric.get("Unit", "None")
                        if metric.get("Unit", "None") in _UNITS
                        else "None",
                    }
                    if timestamp:
                        datum["Timestamp"] = timestamp / 1000.0
                    data.append(datum)
        out.append((directive.get("Namespace", "sklambda"), data))
    return out


class StdoutForwarder:
    """A text stream that forwards EMF and capture lines to AWS, and prints everything."""

    def __init__(
        self,
        terminal: TextIO,
        cloudwatch: Any,
        firehose: Any,
        stream_name: str,
        *,
        show: Callable[[str], bool] = lambda line: True,
    ) -> None:
        self._terminal = terminal
        self._cloudwatch = cloudwatch
        self._firehose = firehose
        self._stream = stream_name
        self._show = show
        self._pending = ""
        self._lock = threading.Lock()
        self.forwarded = {"metrics": 0, "capture": 0, "failed": 0}

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._handle(line)
        return len(text)

    def flush(self) -> None:
        self._terminal.flush()

    def isatty(self) -> bool:
        return False

    def _handle(self, line: str) -> None:
        try:
            if line.startswith("{") and '"_aws"' in line:
                for namespace, data in emf_metric_data(json.loads(line)):
                    for start in range(0, len(data), 1000):
                        self._cloudwatch.put_metric_data(
                            Namespace=namespace, MetricData=data[start : start + 1000]
                        )
                self.forwarded["metrics"] += 1
            elif parse_capture_line(line) is not None:
                self._firehose.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": (line + "\n").encode()}]
                )
                self.forwarded["capture"] += 1
                return  # capture lines are data, not something to read on a terminal
        except Exception:  # noqa: BLE001 - forwarding must never break the handler that printed
            self.forwarded["failed"] += 1
        if self._show(line):
            self._terminal.write(line + "\n")
            self._terminal.flush()
