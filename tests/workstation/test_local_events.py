from __future__ import annotations

import pytest

from sklambda.local.events import (
    invocation_context,
    parse_interval,
    scheduled_event,
    sqs_lambda_event,
)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("60s", 60), ("5m", 300), ("1h", 3600)])
def test_intervals_read_like_people_write_them(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0s", "-5m", ""])
def test_bad_intervals_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="90, 60s, 5m or 1h|positive"):
        parse_interval(text)


def test_events_have_the_shapes_lambda_sends() -> None:
    event = scheduled_event("monitor", "eu-west-1", event_id="e1", at="2026-01-01T00:00:00Z")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:eu-west-1:123456789012:rule/monitor"]
    sqs = sqs_lambda_event(
        [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}"}],
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "eu-west-1",
    )
    record = sqs["Records"][0]
    assert (record["messageId"], record["body"], record["eventSource"]) == ("m1", "{}", "aws:sqs")


def test_the_local_scheduler_fires_the_apps_scheduled_functions() -> None:
    import threading
    import types

    from chalice import Chalice, Rate

    from sklambda.local.stack import Scheduler

    app = Chalice(app_name="t")
    fired = []
    done = threading.Event()

    @app.schedule(Rate(1, unit=Rate.HOURS))
    def monitor(event):
        fired.append(event.to_dict()["detail-type"])
        done.set()

    module = types.SimpleNamespace(app=app, monitor=monitor)
    stop = threading.Event()
    scheduler = Scheduler(module, 0.05, stop)
    assert [name for name, _ in scheduler.handlers] == ["monitor"]
    scheduler.start()
    assert done.wait(5)
    stop.set()
    scheduler.join(5)
    assert fired[0] == "Scheduled Event"


def test_each_local_invocation_gets_a_context_with_the_time_left() -> None:
    from chalicelib.batch import Invocation

    context = invocation_context("score_batch", 900)
    assert 899_000 < context.get_remaining_time_in_millis() <= 900_000
    invocation = Invocation.of(context, message_id="m1", reserve_seconds=60)
    assert invocation.reference == f"request id {context.aws_request_id}"
    invocation.check_time("claiming a file")  # plenty left: no OutOfTime
