"""What arrives on the batch queue: S3 ObjectCreated notifications (S3 event records in the
SQS message body) and the chunk jobs the fan-out queues for the parts of a large file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from chalicelib.batch._keys import decode_event_key
from chalicelib.core import InvalidInputError

CHUNK_MARKER = "sklambda_chunk"


@dataclass(frozen=True)
class ObjectEvent:
    """One ObjectCreated notification, as S3 sends it through SQS."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int
    sequencer: str
    submitter: str | None

    @classmethod
    def from_record(cls, record: dict[str, Any] | S3EventRecord) -> ObjectEvent:
        """The event of one S3 event record (S3's JSON, or powertools' record of it)."""
        if not isinstance(record, S3EventRecord):
            record = S3EventRecord(record)
        obj = record.s3.get_object
        # S3 may leave these out: a versionless bucket sends no versionId, and the uploader's
        # principal is not always there.
        optional = obj.raw_event
        return cls(
            bucket=record.s3.bucket.name,
            key=decode_event_key(obj.key),
            etag=str(optional.get("eTag", "")).strip('"'),
            version_id=optional.get("versionId") or None,
            size=int(optional.get("size", 0)),
            sequencer=str(optional.get("sequencer", "")),
            submitter=(record.raw_event.get("userIdentity") or {}).get("principalId"),
        )

    def fields(self) -> dict[str, Any]:
        """The event as plain JSON fields (a chunk job carries it)."""
        return asdict(self)


def object_events(body: str) -> list[ObjectEvent]:
    """The ObjectCreated events in an SQS message body (S3's test event has none)."""
    try:
        message = json.loads(body)
    except ValueError:
        raise InvalidInputError("queue message is not JSON") from None
    if not isinstance(message, dict):
        return []
    return [
        ObjectEvent.from_record(record)
        for record in S3Event({"Records": message.get("Records", [])}).records
        if str(record.get("eventName", "")).startswith("ObjectCreated")
    ]


def queue_url_of(queue_arn: str) -> str:
    """The URL of the SQS queue `queue_arn` (an SQS record's eventSourceARN)."""
    _, partition, _, region, account, name = queue_arn.split(":", 5)
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def sequencer_newer(a: str, b: str) -> bool:
    """Whether S3 sequencer `a` is later than `b` (hex strings of varying length)."""
    width = max(len(a), len(b))
    return a.upper().ljust(width, "0") > b.upper().ljust(width, "0")


def chunk_message(job: str, part: int, parts: int, event: ObjectEvent) -> str:
    """The queue message of a chunk job: score part `part` of `parts` of the event's file."""
    return json.dumps(
        {CHUNK_MARKER: {"job": job, "part": part, "parts": parts, "event": event.fields()}}
    )


def chunk_of(body: str) -> dict[str, Any] | None:
    """The chunk job in a queue message body, or None for S3 notifications."""
    if CHUNK_MARKER not in body:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    chunk = message.get(CHUNK_MARKER) if isinstance(message, dict) else None
    return chunk if isinstance(chunk, dict) else None


def chunk_event(chunk: dict[str, Any]) -> ObjectEvent:
    """The S3 event of the file a chunk job belongs to."""
    return ObjectEvent(**chunk["event"])
