"""The batch queue the data bucket notifies, and its dead-letter queue."""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._buckets import data_bucket_sends
from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._intrinsics import arn_of, ref, sub, tls_only_statement

# The batch queue hides a message for this many times the worker's timeout (AWS advises 6).
VISIBILITY_FACTOR = 6


def batch_queue(config: StageConfig) -> dict[str, Any]:
    """The data bucket's incoming files queue up here; failures end in the DLQ, kept 14 days."""
    visibility = VISIBILITY_FACTOR * config.batch_timeout
    return {
        "BatchDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-batch-dlq"),
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        "BatchQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-batch"),
                "VisibilityTimeout": visibility,
                "MessageRetentionPeriod": 4 * 24 * 3600,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn_of("BatchDeadLetterQueue"),
                    "maxReceiveCount": config.batch_max_receives,
                },
            },
        },
        "BatchQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("BatchQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        data_bucket_sends("BatchQueue"),
                        tls_only_statement("sqs", arn_of("BatchQueue")),
                    ],
                },
            },
        },
    }
