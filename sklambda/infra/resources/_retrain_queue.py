"""The retrain queue the monitor asks the retraining function through, and its dead-letter
queue.

Only the monitor's role may send to it (IAM; no resource policy names another sender), and
only the retraining function's role receives from it. A message is one model's retrain.
"""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._batch_queue import VISIBILITY_FACTOR
from sklambda.infra.resources._chalice import RETRAIN_TIMEOUT
from sklambda.infra.resources._intrinsics import arn_of, ref, sub, tls_only_statement

# A retrain that fails for a reason it would meet again is recorded and its message consumed
# (chalicelib.rollout); what reaches the DLQ crashed or timed out on every attempt.
RETRAIN_MAX_RECEIVES = 2


def retrain_queue() -> dict[str, Any]:
    """Retrain requests queue up here; ones whose function crashed every time end in the DLQ."""
    return {
        "RetrainDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-retrain-dlq"),
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        "RetrainQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-retrain"),
                "VisibilityTimeout": VISIBILITY_FACTOR * RETRAIN_TIMEOUT,
                # A request older than a day is stale: the monitor asks again if still due.
                "MessageRetentionPeriod": 24 * 3600,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn_of("RetrainDeadLetterQueue"),
                    "maxReceiveCount": RETRAIN_MAX_RECEIVES,
                },
            },
        },
        "RetrainQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("RetrainQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [tls_only_statement("sqs", arn_of("RetrainQueue"))],
                },
            },
        },
    }
