"""Inference capture: inputs, outputs, prediction ids, version and latency, for monitoring.

Two sinks. `log` (default) prints one JSON line per record to stdout; a CloudWatch Logs
subscription filter (`{ $.sklambda_capture = 1 }`) ships the lines to the Firehose stream, so
capture costs the request only a print and cannot be lost with the log. `firehose` calls
PutRecordBatch from the handler (a network round trip per request). Either way a failure is
counted and never fails the request.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

CAPTURE_MARKER = "sklambda_capture"
_FIREHOSE_BATCH = 500  # PutRecordBatch takes at most 500 records

# Every field a capture record may hold (the records are built by _server), with its type as
# a column of the SQL table the stack puts over the capture (sklambda/infra/resources/
# _capture_table.py). One list, so a new field becomes a column; tests/infra check a record
# the server really captures has no field missing here. The marker is not a column: it is
# for the log subscription filter, and is 1 on every line.
_ONE_OUTPUT = "base:double,value:double,contributions:map<string,double>"
EXPLANATION_COLUMN = (
    f"struct<scale:string,class:string,{_ONE_OUTPUT},classes:map<string,struct<{_ONE_OUTPUT}>>>"
)
CAPTURE_FIELDS: dict[str, str] = {
    "model": "string",
    "version": "int",
    "alias": "string",  # the alias that routed the request, or null
    "role": "string",  # primary or shadow
    "source": "string",  # http
    "prediction_id": "string",
    "inputs": "map<string,string>",  # the record as sent: values mix numbers and strings
    "prediction": "string",  # a class label or a number: text reads both
    "probabilities": "map<string,double>",  # class label → probability (classifiers)
    "latency_ms": "double",  # the whole request's, on each of its records
    "consumer": "string",
    "request_id": "string",
    "captured_at": "string",  # ISO 8601, UTC
    "error": "string",  # failed requests only: the error code, and no prediction
    # Requests with ?explain=true: the record's explanation (scoring/_explanations.py), one
    # output's or per class.
    "explanation": EXPLANATION_COLUMN,
}


class CaptureSink(Protocol):
    def send(self, lines: Sequence[str]) -> None: ...


class LogCaptureSink:
    """Capture lines on stdout, for the log subscription to ship."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream

    def send(self, lines: Sequence[str]) -> None:
        stream = self._stream or sys.stdout
        stream.write("\n".join(lines) + "\n")


class FirehoseCaptureSink:
    """Capture lines sent straight to a Firehose delivery stream."""

    def __init__(self, firehose: Any, stream_name: str) -> None:
        self._firehose = firehose
        self._stream_name = stream_name

    def send(self, lines: Sequence[str]) -> None:
        for start in range(0, len(lines), _FIREHOSE_BATCH):
            batch = lines[start : start + _FIREHOSE_BATCH]
            response = self._firehose.put_record_batch(
                DeliveryStreamName=self._stream_name,
                Records=[{"Data": (line + "\n").encode()} for line in batch],
            )
            if response.get("FailedPutCount"):
                raise RuntimeError(f"{response['FailedPutCount']} capture records were refused")


class NoCaptureSink:
    def send(self, lines: Sequence[str]) -> None:
        return None


def capture_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """One JSON line per captured record, marked for the log subscription filter."""
    return [
        json.dumps({CAPTURE_MARKER: 1, **record}, separators=(",", ":"), allow_nan=False)
        for record in records
    ]


class Capturer:
    """Samples requests and hands their capture records to a sink; never raises."""

    def __init__(self, sink: CaptureSink, draw: Callable[[], float] = random.random) -> None:
        self._sink = sink
        self._draw = draw

    def sampled(self, rate: float) -> bool:
        """Whether this request is captured, for a share `rate` of requests."""
        return rate >= 1.0 or (rate > 0.0 and self._draw() < rate)

    def capture(self, records: Sequence[dict[str, Any]]) -> bool:
        """Send the records; False (and nothing raised) when that failed."""
        try:
            self._sink.send(capture_lines(records))
        except Exception:  # noqa: BLE001 - capture must never fail the request
            from chalicelib.core import logger

            logger.exception("inference capture failed")
            return False
        return True


def parse_capture_line(line: str) -> dict[str, Any] | None:
    """The capture record in a log line, or None for any other line."""
    if CAPTURE_MARKER not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get(CAPTURE_MARKER) == 1 else None
