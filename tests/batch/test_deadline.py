"""The batch function near its timeout (moto): it starts nothing it cannot finish, stops
between chunks leaving nothing behind, and hands its message back for an immediate retry."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.core import reset_settings
from tests.batch.world import (
    BatchWorld,
    FakeContext,
    batch_s3,
    csv_bytes,
    customers,
    deliver,
    expected_proba,
    keys_under,
    pending_uploads,
    split_settings,
)

# Lambda would stop the function within this many seconds: under the default reserve (60 s).
ALMOST_OUT = 5.0
PLENTY = 900.0


@pytest.fixture
def slow_queue(world: BatchWorld) -> BatchWorld:
    """A queue whose messages stay hidden for ten minutes after a receive, as deployed: a
    message that is back at once was handed back."""
    world.sqs.set_queue_attributes(
        QueueUrl=world.queue_url, Attributes={"VisibilityTimeout": "600"}
    )
    return world


def small_chunks(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_BATCH_CHUNK_ROWS", str(rows))
    reset_settings()
    app_module.reset()


def visible_now(world: BatchWorld) -> tuple[int, int]:
    """(visible, hidden) messages of the queue, read without receiving any (a receive would
    count towards the redrive to the DLQ)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = world.sqs.get_queue_attributes(QueueUrl=world.queue_url, AttributeNames=names)
    return tuple(int(counts["Attributes"][name]) for name in names)  # type: ignore[return-value]


def s3_writes(world: BatchWorld) -> list[str]:
    """Records the keys the batch scorer writes (objects and multipart uploads)."""
    written: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        written.append(params["Key"])

    events = batch_s3().meta.events
    events.register("before-parameter-build.s3.PutObject", record)
    events.register("before-parameter-build.s3.CreateMultipartUpload", record)
    return written


def test_with_little_time_left_no_file_is_claimed_and_the_message_comes_back_at_once(
    slow_queue: BatchWorld,
) -> None:
    world = slow_queue
    world.drop("batch/incoming/churn/late.csv", csv_bytes(customers(30)))
    written = s3_writes(world)

    [response] = deliver(world, FakeContext(ALMOST_OUT))

    assert written == []  # no claim, no upload: nothing was started
    assert len(response["batchItemFailures"]) == 1
    assert visible_now(world) == (1, 0)  # back at once, not in ten minutes
    assert not world.exists("batch/scored/churn/late.csv.manifest.json")

    [again] = deliver(world, FakeContext(PLENTY))
    assert again == {"batchItemFailures": []}
    assert world.manifest("late.csv")["status"] == "succeeded"


def test_time_running_out_between_chunks_leaves_nothing_and_the_retry_scores_it_all(
    slow_queue: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = slow_queue
    small_chunks(monkeypatch, rows=50)
    frame = customers(200).astype(object)
    frame.loc[2, "age"] = "old"  # an errors upload is open too when time runs out
    world.drop("batch/incoming/churn/long.csv", csv_bytes(frame))
    # Asked before the claim and before each chunk: out of time before the third chunk.
    context = FakeContext(PLENTY, PLENTY, PLENTY, ALMOST_OUT)

    [response] = deliver(world, context)

    assert context.asked == 4
    assert len(response["batchItemFailures"]) == 1
    assert visible_now(world) == (1, 0)
    assert keys_under(world, "batch/_jobs/") == []  # the claim was released
    assert pending_uploads(world) == []  # scored and errors uploads aborted
    assert keys_under(world, "batch/scored/") == []
    assert keys_under(world, "batch/errors/") == []

    [again] = deliver(world, FakeContext(PLENTY))

    assert again == {"batchItemFailures": []}
    manifest = world.manifest("long.csv")
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 200, "scored": 199, "rejected": 1}
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/long.csv")))
    kept = customers(200).drop(index=2)
    assert np.allclose(scored["proba_1"], expected_proba(kept))
    assert visible_now(world) == (0, 0)


def test_a_part_short_of_time_stops_between_chunks_and_the_file_is_assembled_later(
    slow_queue: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = slow_queue
    frame = customers(300)
    body = csv_bytes(frame)
    small_chunks(monkeypatch, rows=20)
    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 3)
    world.drop("batch/incoming/churn/parts.csv", body)
    [planned] = deliver(world, FakeContext(PLENTY))  # plans the parts, queues chunk jobs
    assert planned == {"batchItemFailures": []}
    assert visible_now(world) == (3, 0)

    # One part: asked before its claim and before each chunk; out of time before the third.
    [response] = deliver(world, FakeContext(PLENTY, PLENTY, PLENTY, ALMOST_OUT), batch_size=1)

    assert len(response["batchItemFailures"]) == 1
    assert visible_now(world) == (3, 0)  # the part's message is back at once
    jobs = keys_under(world, "batch/_jobs/")
    assert [k for k in jobs if "-part-" in k] == []  # its claim was released
    assert [k for k in jobs if "/out/" in k or "/done/" in k] == []  # nothing recorded
    assert pending_uploads(world) == []

    world.run()

    manifest = world.manifest("parts.csv")
    assert manifest["status"] == "succeeded" and manifest["parts"] == 3
    assert manifest["rows"] == {"read": 300, "scored": 300, "rejected": 0}
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/parts.csv")))
    assert np.allclose(scored["proba_1"], expected_proba(frame))
    assert keys_under(world, "batch/_jobs/") == []


def test_without_a_lambda_context_time_is_not_limited(world: BatchWorld) -> None:
    import app as app_module
    from tests.batch.world import sqs_event

    world.drop("batch/incoming/churn/local.csv", csv_bytes(customers(20)))
    body = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"][0]["Body"]
    assert app_module.score_batch(sqs_event(("m-1", body, 1)), None) == {"batchItemFailures": []}
    assert world.manifest("local.csv")["status"] == "succeeded"
