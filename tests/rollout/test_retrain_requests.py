"""The monitor asks, the retraining function retrains: once per request, whatever SQS does.

The monitor only sends a message; the retrain queue's function retrains and records how it
went. A message delivered twice, or requests that piled up while no retrain had run, retrain
once; a retrain that cannot succeed is recorded and its message consumed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.registry import Registry
from chalicelib.rollout import RetrainRequest, handle_retrain_event
from chalicelib.services import retrainer
from sklambda.local.events import drain, scheduled_event
from tests.conftest import REGION
from tests.monitoring.world import MODEL, MonitorWorld
from tests.rollout.test_retraining import (
    CANARY_POLICY,
    aliases,
    new_world,
    put_training_data,
    run_at,
)


@pytest.fixture
def world(aws, registry: Registry) -> MonitorWorld:
    built = MonitorWorld(aws, registry)
    built.register()
    registry.promote(MODEL, 1)
    registry.configure(MODEL, {"drift_thresholds": {"consecutive_breaches": 1}})
    registry.set_policy(MODEL, CANARY_POLICY)
    return built


def queue_url(world: MonitorWorld) -> str:
    sqs = world.aws.client("sqs")
    return str(sqs.get_queue_url(QueueName=world.aws.settings.retrain_queue)["QueueUrl"])


def sent_bodies(world: MonitorWorld) -> list[str]:
    """The queue's messages, left in place (visible again at once)."""
    sqs = world.aws.client("sqs")
    received = sqs.receive_message(
        QueueUrl=queue_url(world), MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [m["Body"] for m in received.get("Messages", [])]


def test_the_monitor_only_sends_what_the_retrain_needs(world: MonitorWorld) -> None:
    put_training_data(world, new_world(1500, seed=91))
    world.traffic(new_world(600, seed=92))

    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-ask")

    (body,) = sent_bodies(world)
    request = RetrainRequest.from_body(body)
    assert (request.model, request.trigger, request.event_id) == (MODEL, "monitor", "evt-ask")
    assert "drift" in request.reason
    assert registry_versions(world) == [1]  # nothing was trained in the monitor's run
    assert world.registry.retrain_state(MODEL) == {}


def test_a_message_delivered_twice_retrains_once(world: MonitorWorld) -> None:
    put_training_data(world, new_world(1500, seed=93))
    world.traffic(new_world(600, seed=94))
    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-twice")
    (body,) = sent_bodies(world)
    world.aws.client("sqs").send_message(QueueUrl=queue_url(world), MessageBody=body)

    first, again = world.retrain()

    assert first["outcome"] == "canary at 50% of traffic" and first["version"] == 2
    assert again["outcome"] == "skipped" and "not repeated" in again["reason"]
    assert registry_versions(world) == [1, 2]
    assert aliases(world.registry) == {"champion": 1, "canary": 2}
    assert world.registry.retrain_state(MODEL)["request"] == "evt-twice"


def test_requests_that_piled_up_retrain_once(world: MonitorWorld) -> None:
    put_training_data(world, new_world(1500, seed=95))
    world.traffic(new_world(600, seed=96))
    start = datetime.now(UTC) + timedelta(minutes=1)
    run_at(world, start, "evt-a")
    run_at(world, start + timedelta(hours=1), "evt-b")  # no retrain has started yet: asks again

    done = world.retrain()

    assert sorted(d["event_id"] for d in done) == ["evt-a", "evt-b"]
    assert sorted(d["outcome"] for d in done) == ["canary at 50% of traffic", "skipped"]
    assert registry_versions(world) == [1, 2]


def test_a_retrain_that_cannot_succeed_is_recorded_and_its_message_consumed(
    world: MonitorWorld,
) -> None:
    world.traffic(new_world(600, seed=97))  # drift, but no training data
    run_at(world, datetime.now(UTC) + timedelta(minutes=1), "evt-nodata")

    (failed,) = world.retrain()

    assert failed["outcome"] == "failed" and "no training data" in failed["error"]
    assert sent_bodies(world) == []  # a retry would fail the same way
    last = world.registry.history(MODEL, with_decisions=True)[-1]
    assert last["action"] == "retrain-failed"
    assert aliases(world.registry) == {"champion": 1}


def test_a_malformed_message_is_dropped(world: MonitorWorld) -> None:
    event = {"Records": [{"messageId": "m1", "body": json.dumps({"model": MODEL})}]}

    (dropped,) = handle_retrain_event(retrainer(world.aws, world.registry), event)["retrains"]

    assert dropped["outcome"] == "dropped" and "event_id" in dropped["error"]
    assert registry_versions(world) == [1]


def test_the_app_retrains_what_its_monitor_asked_for(world: MonitorWorld) -> None:
    import app as app_module

    app_module.reset()
    put_training_data(world, new_world(1500, seed=98))
    world.traffic(new_world(600, seed=99))
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = scheduled_event("monitor_models", REGION, event_id="evt-app", at=at)
    outcome = app_module.monitor_models(event, None)
    assert outcome["models"][MODEL]["status"] == "done", outcome

    results: list[Any] = []

    def handler(sqs_event: dict[str, Any], context: Any) -> Any:
        results.append(app_module.retrain_model(sqs_event, context))
        return results[-1]

    assert drain(world.aws.client("sqs"), queue_url(world), handler, batch_size=1) == 1

    (done,) = results[0]["retrains"]
    assert done["event_id"] == "evt-app" and done["version"] == 2
    assert aliases(world.registry) == {"champion": 1, "canary": 2}
    app_module.reset()


def registry_versions(world: MonitorWorld) -> list[int]:
    return world.registry.list_versions(MODEL)
