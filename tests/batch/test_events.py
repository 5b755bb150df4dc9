"""What arrives on the batch queue: S3 event records and chunk jobs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from chalicelib.batch._events import (
    ObjectEvent,
    chunk_event,
    chunk_message,
    chunk_of,
    object_events,
    queue_url_of,
    sequencer_newer,
)
from chalicelib.core import InvalidInputError


def s3_record(key: str, event: str = "ObjectCreated:Put", **obj: Any) -> dict[str, Any]:
    """One S3 event record, as S3 writes it into the queue message."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "s3": {
            "bucket": {"name": "data"},
            "object": {"key": key, "size": 120, "eTag": "abc", "sequencer": "0A1B", **obj},
        },
    }


def test_an_object_created_record_becomes_an_event() -> None:
    record = s3_record("batch/incoming/churn/Q4+r%C3%A9sum%C3%A9/a+b.csv", versionId="v1")
    expected = ObjectEvent(
        bucket="data",
        key="batch/incoming/churn/Q4 résumé/a b.csv",
        etag="abc",
        version_id="v1",
        size=120,
        sequencer="0A1B",
        submitter="AWS:AIDAEXAMPLE",
    )
    assert ObjectEvent.from_record(record) == expected
    assert ObjectEvent.from_record(S3EventRecord(record)) == expected


def test_fields_s3_may_leave_out_have_defaults() -> None:
    record = s3_record("batch/incoming/churn/a.csv", eTag='"quoted"')
    del record["userIdentity"], record["s3"]["object"]["size"]
    del record["s3"]["object"]["sequencer"]
    event = ObjectEvent.from_record(record)
    assert (event.etag, event.version_id, event.size, event.sequencer, event.submitter) == (
        "quoted",
        None,
        0,
        "",
        None,
    )


def test_a_message_body_holds_the_object_created_events_only() -> None:
    body = json.dumps(
        {
            "Records": [
                s3_record("batch/incoming/churn/a.csv"),
                s3_record("batch/incoming/churn/b.csv", event="ObjectRemoved:Delete"),
                s3_record(
                    "batch/incoming/churn/c.csv", event="ObjectCreated:CompleteMultipartUpload"
                ),
            ]
        }
    )
    assert [e.key for e in object_events(body)] == [
        "batch/incoming/churn/a.csv",
        "batch/incoming/churn/c.csv",
    ]
    assert object_events(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    assert object_events("[1, 2]") == []
    with pytest.raises(InvalidInputError, match="not JSON"):
        object_events("{not json")


def test_a_chunk_job_round_trips_through_its_message() -> None:
    event = ObjectEvent.from_record(s3_record("batch/incoming/churn/big.csv"))
    body = chunk_message("job1", 2, 5, event)
    # The message format is a contract with messages already queued: it must not change.
    assert json.loads(body) == {
        "sklambda_chunk": {
            "job": "job1",
            "part": 2,
            "parts": 5,
            "event": {
                "bucket": "data",
                "key": "batch/incoming/churn/big.csv",
                "etag": "abc",
                "version_id": None,
                "size": 120,
                "sequencer": "0A1B",
                "submitter": "AWS:AIDAEXAMPLE",
            },
        }
    }
    chunk = chunk_of(body)
    assert chunk is not None and chunk_event(chunk) == event
    assert chunk_of(json.dumps({"Records": [s3_record("batch/incoming/churn/a.csv")]})) is None
    assert chunk_of('{"sklambda_chunk": "not a job"}') is None


@pytest.mark.parametrize(
    ("a", "b", "newer"),
    [("0A", "09", True), ("0A", "0A", False), ("0A", "0A00", False), ("0A01", "0A", True)],
)
def test_sequencers_compare_as_padded_hex(a: str, b: str, newer: bool) -> None:
    assert sequencer_newer(a, b) is newer


def test_the_queue_url_comes_from_the_records_event_source_arn() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:sklambda-prod-batch"
    assert (
        queue_url_of(arn) == "https://sqs.eu-west-1.amazonaws.com/123456789012/sklambda-prod-batch"
    )
    china = "arn:aws-cn:sqs:cn-north-1:123456789012:q"
    assert queue_url_of(china) == "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"
