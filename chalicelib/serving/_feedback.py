"""Ground truth sent back by apps, stored for the monitor to join with captured predictions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.core import InvalidInputError, PayloadTooLargeError, iso
from chalicelib.storage import ObjectStore

MAX_FEEDBACK_ITEMS = 10_000
_EXAMPLE = '[{"prediction_id": "3f2a...", "actual": 1}]'


def parse_feedback(body: bytes | str | None) -> list[dict[str, Any]]:
    """The feedback items of a request body; every problem reported at once."""
    try:
        items = json.loads(body or b"")
    except ValueError as exc:
        raise InvalidInputError(f"body is not valid JSON ({exc}); send {_EXAMPLE}") from None
    if not isinstance(items, list) or not items:
        raise InvalidInputError(f"send a non-empty JSON list of feedback items, e.g. {_EXAMPLE}")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise PayloadTooLargeError(
            f"{len(items)} feedback items is over the limit of {MAX_FEEDBACK_ITEMS}; "
            "split them into several requests"
        )
    problems = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append({"record": index, "field": None, "problem": "expected an object"})
            continue
        pid = item.get("prediction_id")
        if not isinstance(pid, str) or not pid.strip():
            problems.append(
                {
                    "record": index,
                    "field": "prediction_id",
                    "problem": "missing or not a non-empty string",
                }
            )
        actual = item.get("actual")
        if actual is None or isinstance(actual, dict | list):
            problems.append(
                {
                    "record": index,
                    "field": "actual",
                    "problem": "missing, null, or not a single value",
                }
            )
    if problems:
        raise InvalidInputError(
            f"{len(problems)} problems in the feedback; see details", details=problems[:100]
        )
    return [{"prediction_id": i["prediction_id"], "actual": i["actual"]} for i in items]


def feedback_key(prefix: str, model: str, received: datetime, request_id: str) -> str:
    """Where one feedback request is stored: by model and day, named by request id."""
    return f"{prefix}{model}/{received:%Y/%m/%d}/{received:%H%M%S}-{request_id}.jsonl"


def store_feedback(
    store: ObjectStore,
    prefix: str,
    model: str,
    items: Sequence[dict[str, Any]],
    *,
    received: datetime,
    request_id: str,
    consumer: str,
) -> str:
    """Write the items as JSON lines, one object per request; return its key."""
    at = iso(received)
    lines = [
        json.dumps({**item, "model": model, "received_at": at, "consumer": consumer})
        for item in items
    ]
    key = feedback_key(prefix, model, received, request_id)
    store.put_bytes(key, ("\n".join(lines) + "\n").encode(), content_type="application/x-ndjson")
    return key
