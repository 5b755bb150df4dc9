"""The aggregate queue the data bucket notifies of what the monitor aggregates, and its
dead-letter queue.

S3 sends to it for this stack's data bucket only (capture deliveries, feedback, scored batch
manifests: the bucket's notifications); only the aggregating function's role receives from
it. A message is one S3 event, most often one object.
"""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._batch_queue import VISIBILITY_FACTOR
from sklambda.infra.resources._buckets import data_bucket_sends
from sklambda.infra.resources._chalice import AGGREGATE_TIMEOUT
from sklambda.infra.resources._intrinsics import arn_of, ref, sub, tls_only_statement

# Adding an object is idempotent and a monitor run reads what was not added, so a retry costs
# little: a few attempts ride out throttling and a crowd of writers on one partial. What
# reaches the DLQ failed every time (a bug, an object it cannot read); the monitor still
# counts it from the object itself.
AGGREGATE_MAX_RECEIVES = 5


def aggregate_queue() -> dict[str, Any]:
    """Landed objects queue up here for the aggregating function; ones that failed every
    attempt end in the DLQ, kept 14 days."""
    return {
        "AggregateDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-aggregate-dlq"),
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        "AggregateQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-aggregate"),
                "VisibilityTimeout": VISIBILITY_FACTOR * AGGREGATE_TIMEOUT,
                "MessageRetentionPeriod": 4 * 24 * 3600,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn_of("AggregateDeadLetterQueue"),
                    "maxReceiveCount": AGGREGATE_MAX_RECEIVES,
                },
            },
        },
        "AggregateQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("AggregateQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        data_bucket_sends("AggregateQueue"),
                        tls_only_statement("sqs", arn_of("AggregateQueue")),
                    ],
                },
            },
        },
    }
