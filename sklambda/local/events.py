"""Lambda's SQS event source, for the embedded AWS: poll a queue, hand batches to a handler;
and the other events Lambda hands the functions (schedules, API Gateway requests).

Messages are deleted only after the handler succeeded for them (honouring partial batch
failure responses); failed ones become visible again and, past the queue's redrive policy,
move to its DLQ, as the real event source mapping does. The local stack hands each invocation
a Lambda context with the function's time limit (`invocation_context`); without one (tests
that pass none) the handler's time is unlimited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SqsHandler = Callable[[dict[str, Any], Any], Any]


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda passes to an SQS-triggered function for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def invocation_context(function_name: str, timeout_seconds: float) -> Any:
    """Lambda's context for one invocation starting now: a request id, and the time left of
    `timeout_seconds` (what the batch handler reads to stop before Lambda would stop it)."""
    from chalice.local import LambdaContext

    return LambdaContext(function_name, memory_size=0, max_runtime_ms=int(timeout_seconds * 1000))


def deliver_once(
    sqs: Any,
    queue_url: str,
    handler: SqsHandler,
    *,
    batch_size: int = 5,
    wait_seconds: int = 0,
    context: Any = None,
) -> int:
    """Receive one batch and run the handler on it; the number of messages handed over."""
    received = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=batch_size,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
    ).get("Messages", [])
    if not received:
        return 0
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    region = arn.split(":")[3]
    try:
        response = handler(sqs_lambda_event(received, arn, region), context)
    except Exception:  # noqa: BLE001 - a failed invocation returns the whole batch
        return len(received)
    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ],
        )
    return len(received)


def drain(
    sqs: Any,
    queue_url: str,
    handler: SqsHandler,
    *,
    max_batches: int = 100,
    batch_size: int = 5,
    context: Any = None,
) -> int:
    """Deliver until the queue has nothing visible; the number of messages handed over."""
    total = 0
    for _ in range(max_batches):
        count = deliver_once(sqs, queue_url, handler, batch_size=batch_size, context=context)
        if not count:
            break
        total += count
    return total


def scheduled_event(rule: str, region: str, *, event_id: str, at: str) -> dict[str, Any]:
    """The EventBridge event Lambda passes to a function on a schedule."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at,
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"],
        "detail": {},
    }


def parse_interval(text: str) -> float:
    """Seconds in '90', '60s', '5m' or '1h'; ValueError with the accepted forms otherwise."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    raw = text.strip().lower()
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale else raw
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ValueError(f"intervals look like 90, 60s, 5m or 1h; got {text!r}") from None
    if seconds <= 0:
        raise ValueError(f"the interval must be positive, got {text!r}")
    return seconds


def predict_event(name: str, body: str, *, request_id: str = "local") -> dict[str, Any]:
    """The API Gateway (REST, proxy) event of POST /models/{name}/predict with a JSON body,
    for what calls `app.app(event, context)` as Lambda does (benchmarks, tests)."""
    return {
        "resource": "/models/{name}/predict",
        "path": f"/models/{name}/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"name": name},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/models/{name}/predict",
            "httpMethod": "POST",
            "requestId": request_id,
            "identity": {"apiKeyId": f"{request_id}-key"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
