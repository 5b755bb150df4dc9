"""The batch world of the end-to-end tests: the data bucket wired to the batch queue
(moto), the app's SQS handler draining it, and sample files."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.local.events import drain
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
