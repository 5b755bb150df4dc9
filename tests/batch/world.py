"""The batch world of the end-to-end tests: the data bucket wired to the batch queue
(moto), the app's SQS handler draining it, and sample files."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import ObjectEvent
from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.local.events import deliver_once, drain
from sklambda.sample_data import FEATURES, churn_frame
from tests.conftest import DATA_BUCKET
from tests.models import fitted_logreg

QUEUE = "sklambda-batch"


class BatchWorld:
    """The data bucket wired to the batch queue, and the app's SQS handler to drain it."""

    def __init__(self, aws: AwsClients, registry: Registry) -> None:
        self.aws = aws
        self.s3 = aws.s3
        self.registry = registry
        self.sqs = aws.client("sqs")
        dlq = self.sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.queue_url = self.sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}
                ),
            },
        )["QueueUrl"]
        self.dlq_url = dlq
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.s3.put_bucket_notification_configuration(
            Bucket=DATA_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "batch/incoming/"}]}
                        },
                    }
                ]
            },
        )

        self.run()  # S3 announces the new configuration with a test event

    def drop(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)

    def run(self) -> int:
        import app as app_module

        return drain(self.sqs, self.queue_url, app_module.score_batch)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        listed = self.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=key).get("Contents", [])
        return any(item["Key"] == key for item in listed)

    def manifest(self, path: str, model: str = "churn") -> dict[str, Any]:
        return json.loads(self.get(f"batch/scored/{model}/{path}.manifest.json"))


def customers(n: int = 200, seed: int = 11) -> pd.DataFrame:
    return churn_frame(n, seed=seed, with_target=False)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def expected_proba(frame: pd.DataFrame) -> np.ndarray:
    return fitted_logreg().predict_proba(frame[FEATURES])[:, 1]


def split_settings(monkeypatch: pytest.MonkeyPatch, split: int, part: int) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_BATCH_SPLIT_BYTES", str(split))
    monkeypatch.setenv("SKLAMBDA_BATCH_PART_BYTES", str(part))
    reset_settings()
    app_module.reset()


def messy_customers(n: int) -> pd.DataFrame:
    frame = customers(n).astype(object)
    frame["notes"] = [
        f'line one, "quoted"\nline two of {i}' if i % 7 == 0 else "plain" for i in range(n)
    ]
    frame.loc[5, "age"] = "old"
    frame.loc[n - 3, "tenure_months"] = "soon"
    return frame


def scored_outputs(world: BatchWorld, path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    scored = pd.read_csv(io.BytesIO(world.get(f"batch/scored/churn/{path}")))
    errors = pd.read_csv(io.BytesIO(world.get(f"batch/errors/churn/{path}.errors.csv")))
    return scored, errors


def sqs_event(*messages: tuple[str, str, int]) -> dict[str, Any]:
    """The event Lambda hands the batch function: (message id, body, receive count) each."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receives)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sklambda-batch",
                "awsRegion": "us-east-1",
            }
            for message_id, body, receives in messages
        ]
    }


def notifications(world: BatchWorld, names: list[str]) -> dict[str, str]:
    """Drop one small file per name; the body of the S3 notification of each."""
    for name in names:
        world.drop(f"batch/incoming/churn/{name}.csv", csv_bytes(customers(20)))
    bodies: dict[str, str] = {}
    while len(bodies) < len(names):
        for message in world.sqs.receive_message(
            QueueUrl=world.queue_url, MaxNumberOfMessages=10
        ).get("Messages", []):
            event = ObjectEvent.from_record(json.loads(message["Body"])["Records"][0])
            bodies[event.key.rsplit("/", 1)[1].removesuffix(".csv")] = message["Body"]
    world.sqs.purge_queue(QueueUrl=world.queue_url)
    return bodies


class FakeContext:
    """Lambda's context as the batch handler reads it: a request id and the time left, in
    seconds, one value per question (the last one repeats)."""

    def __init__(self, *seconds_left: float, request_id: str = "req-1") -> None:
        self.aws_request_id = request_id
        self._left = list(seconds_left) or [900.0]
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        value = self._left[min(self.asked, len(self._left) - 1)]
        self.asked += 1
        return int(value * 1000)


def deliver(world: BatchWorld, context: Any, *, batch_size: int = 5) -> list[dict[str, Any]]:
    """One delivery of the event source mapping with `context`; the handler's responses."""
    import app as app_module

    responses: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        responses.append(app_module.score_batch(event, lambda_context))
        return responses[-1]

    deliver_once(world.sqs, world.queue_url, handler, batch_size=batch_size, context=context)
    return responses


def batch_s3() -> Any:
    """The S3 client of the app's batch scorer (faults are injected on it)."""
    import app as app_module

    return app_module.batch_scorer().files.s3


@contextmanager
def failing_puts(
    s3: Any, wanted: Callable[[str], bool], *, times: int | None = None
) -> Iterator[list[str]]:
    """PutObject of keys `wanted` fails with a 503 (the first `times` calls, or every one);
    yields the keys it refused."""
    from botocore.exceptions import ClientError

    refused: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if wanted(params["Key"]) and (times is None or len(refused) < times):
            refused.append(params["Key"])
            error = {"Code": "ServiceUnavailable", "Message": "simulated outage"}
            raise ClientError({"Error": error}, "PutObject")

    s3.meta.events.register("before-parameter-build.s3.PutObject", refuse)
    try:
        yield refused
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", refuse)


def keys_under(world: BatchWorld, prefix: str) -> list[str]:
    listed = world.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix).get("Contents", [])
    return [item["Key"] for item in listed]


def pending_uploads(world: BatchWorld) -> list[str]:
    """Keys of multipart uploads started and neither completed nor aborted."""
    return [
        u["Key"] for u in world.s3.list_multipart_uploads(Bucket=DATA_BUCKET).get("Uploads", [])
    ]
