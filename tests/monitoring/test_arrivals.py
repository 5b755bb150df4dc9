"""The aggregating function: each landed object (capture, feedback, a scored batch file's
manifest) added to its partials once, in parallel, whatever SQS delivers twice; and what a
monitor run then merges equals a full read of the same data (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from chalicelib.monitoring import Arrivals, handle_arrivals_event
from chalicelib.monitoring._sources import MonitorSources
from chalicelib.services import arrivals as build_arrivals
from chalicelib.serving import store_feedback
from chalicelib.stats import quality
from sklambda.sample_data import FEATURES, churn_frame
from tests.monitoring.test_monitor import drifted_frame
from tests.monitoring.test_partials import figures, forget_partials
from tests.monitoring.world import (
    MODEL,
    MonitorWorld,
    as_records,
    score_batch_file,
    version_entry,
)


@pytest.fixture
def arrivals(world: MonitorWorld) -> Arrivals:
    return build_arrivals(world.aws, world.registry)


def landed(world: MonitorWorld, prefix: str) -> list[tuple[str, int]]:
    return [(key, size) for key, _, size in world.data.list_objects(prefix)]


def s3_message(message_id: str, objects: list[tuple[str, int]]) -> dict[str, Any]:
    """One SQS record holding S3's ObjectCreated notification of `objects`."""
    records = [
        {
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": "test-data"},
                "object": {"key": key, "size": size, "eTag": "e", "sequencer": "01"},
            },
        }
        for key, size in objects
    ]
    return {"messageId": message_id, "body": json.dumps({"Records": records})}


def feedback(world: MonitorWorld, labels: list[dict[str, Any]], request_id: str) -> str:
    """Labels through the feedback route's writer; the object's key."""
    before = set(world.data.list_keys(f"feedback/{MODEL}/"))
    store_feedback(
        world.data,
        "feedback/",
        MODEL,
        labels,
        received=datetime.now(UTC),
        request_id=request_id,
        consumer="tests",
    )
    (key,) = set(world.data.list_keys(f"feedback/{MODEL}/")) - before
    return key


def test_capture_aggregated_on_arrival_leaves_the_monitor_nothing_to_read(
    world: MonitorWorld, arrivals: Arrivals, reads: list[str]
) -> None:
    world.traffic(churn_frame(300, seed=21))
    world.traffic(drifted_frame(300))
    for key, size in landed(world, "capture/"):
        assert arrivals.handle(key, size) == "capture"
    reads.clear()

    world.run()
    merged = figures(world.report())

    assert reads == []  # every object was added up when it landed
    forget_partials(world)
    for key in list(world.data.list_keys("reports/_partials/_objects/")):
        world.data.delete(key)
    world.run()  # a full read of the same capture
    assert figures(world.report()) == merged
    assert merged["traffic"]["http"] == 600


def test_a_message_delivered_twice_or_retried_adds_nothing_twice(
    world: MonitorWorld, arrivals: Arrivals
) -> None:
    world.traffic(churn_frame(200, seed=22))
    objects = landed(world, "capture/")
    event = {"Records": [s3_message("m1", objects), s3_message("m2", objects)]}

    first = handle_arrivals_event(arrivals, event)
    again = handle_arrivals_event(arrivals, event)  # SQS delivers at least once
    world.run()

    assert first["batchItemFailures"] == again["batchItemFailures"] == []
    entry = version_entry(world.report())
    assert entry["traffic"]["http"] == 200
    assert entry["serving"]["requests"] == 2


def test_a_bad_message_is_handed_back_and_the_rest_of_its_batch_is_added(
    world: MonitorWorld, arrivals: Arrivals
) -> None:
    world.traffic(churn_frame(100, seed=28))
    good = s3_message("good", landed(world, "capture/"))
    bad = {"messageId": "bad", "body": "not an S3 notification"}

    outcome = handle_arrivals_event(arrivals, {"Records": [bad, good]})
    world.run()

    assert outcome["batchItemFailures"] == [{"itemIdentifier": "bad"}]
    assert outcome["aggregated"] == {"capture": 1}
    assert version_entry(world.report())["traffic"]["http"] == 100


def test_many_objects_of_one_hour_aggregated_at_once_lose_nothing(
    world: MonitorWorld, arrivals: Arrivals, reads: list[str]
) -> None:
    for seed in range(8):
        world.traffic(churn_frame(50, seed=30 + seed), per_request=25)
    objects = landed(world, "capture/")
    workers = [build_arrivals(world.aws, world.registry) for _ in range(4)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda job: workers[job[0] % 4].handle(*job[1]), enumerate(objects)))

    assert done == ["capture"] * 8
    reads.clear()
    world.run()
    assert reads == []
    entry = version_entry(world.report())
    assert entry["traffic"]["http"] == 400
    assert entry["serving"]["requests"] == 16


def test_labels_join_when_they_land_and_count_in_their_predictions_hour(
    world: MonitorWorld, arrivals: Arrivals, reads: list[str]
) -> None:
    responses = world.traffic(churn_frame(400, seed=23))
    ids = [pid for r in responses for pid in r["prediction_ids"]]
    predictions = [p for r in responses for p in r["predictions"]]
    probabilities = [p for r in responses for p in r["probabilities"]]
    for key, size in landed(world, "capture/"):
        arrivals.handle(key, size)
    rng = np.random.default_rng(0)
    actual = [int(p) if rng.random() < 0.8 else 1 - int(p) for p in predictions]
    # Labels come in two files, the second repeating part of the first.
    first = feedback(
        world,
        [{"prediction_id": i, "actual": a} for i, a in zip(ids[:250], actual, strict=False)],
        "fb-1",
    )
    second = feedback(
        world,
        [{"prediction_id": i, "actual": a} for i, a in zip(ids[200:], actual[200:], strict=True)],
        "fb-2",
    )
    for key in (first, second, first):  # the first one delivered twice
        assert arrivals.handle(key, 0) == "feedback"

    made = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    label_keys = list(world.data.list_keys(f"reports/_partials/{MODEL}/1/labels/"))
    assert [k.rsplit("/", 1)[1] for k in label_keys] == [f"{made}.json"]
    reads.clear()
    world.run()

    assert reads == []  # the run joined nothing itself
    measured = version_entry(world.report())["quality"]
    expected = quality("classification", [0, 1], actual, predictions, probabilities)
    assert measured["labelled"] == expected["labelled"] == 400
    for name, value in expected["metrics"].items():
        if name == "roc_auc":
            bound = measured["error_bounds"]["roc_auc"]
            assert abs(measured["metrics"][name] - value) <= bound + 1e-6
        else:
            assert measured["metrics"][name] == pytest.approx(value, abs=1e-6), name
    report = world.report()
    assert report["feedback"] == {"received": 450, "joined": 450, "unusable_rows": 0}


def test_labels_hours_late_count_in_the_hour_their_predictions_were_made(
    world: MonitorWorld, arrivals: Arrivals, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.core import _ids, predicted_at

    earlier = datetime.now(UTC) - timedelta(hours=5)
    monkeypatch.setattr(_ids, "_now_ms", lambda: int(earlier.timestamp() * 1000))
    responses = world.traffic(churn_frame(300, seed=26), delivered=earlier)
    monkeypatch.undo()
    on_time = world.traffic(churn_frame(100, seed=27))
    ids = [pid for r in responses + on_time for pid in r["prediction_ids"]]
    predictions = [p for r in responses + on_time for p in r["predictions"]]
    for key, size in landed(world, "capture/"):
        arrivals.handle(key, size)

    # Five hours on, every label lands at once; a wrong one for each of the early ones.
    key = feedback(
        world,
        [
            {"prediction_id": i, "actual": 1 - int(p) if n < 300 else p}
            for n, (i, p) in enumerate(zip(ids, predictions, strict=True))
        ],
        "late",
    )
    arrivals.handle(key, 0)

    hours = {
        k.rsplit("/", 1)[1].removesuffix(".json"): world.data.get_json(k)[0]
        for k in world.data.list_keys(f"reports/_partials/{MODEL}/1/labels/")
    }
    made_now = predicted_at(ids[-1])
    assert sorted(hours) == sorted({f"{earlier:%Y-%m-%dT%H}", f"{made_now:%Y-%m-%dT%H}"})
    assert len(hours[f"{earlier:%Y-%m-%dT%H}"]["sources"]) == 300
    world.run()
    measured = version_entry(world.report())["quality"]
    assert measured["labelled"] == 400
    assert measured["metrics"]["accuracy"] == 0.25


def test_labels_ahead_of_their_capture_wait_for_it(world: MonitorWorld, arrivals: Arrivals) -> None:
    from chalicelib.serving import RequestInfo

    responses = []  # scored, their capture still on its way to S3
    records = as_records(churn_frame(100, seed=24))
    for start in range(0, 100, 50):
        body = json.dumps({"records": records[start : start + 50]})
        responses.append(
            world.server.predict(
                MODEL,
                body,
                "application/json",
                {},
                RequestInfo(request_id=f"a{start}", consumer="tests"),
            )
        )
    ids = [pid for r in responses for pid in r["prediction_ids"]]
    predictions = [p for r in responses for p in r["predictions"]]
    key = feedback(
        world,
        [{"prediction_id": i, "actual": p} for i, p in zip(ids, predictions, strict=True)],
        "early",
    )

    arrivals.handle(key, 0)
    world.flush_capture()  # Firehose delivers a few minutes later
    world.run()

    entry = version_entry(world.report())
    assert entry["quality"]["labelled"] == 100
    assert entry["quality"]["metrics"]["accuracy"] == 1.0


def test_a_scored_batch_file_is_aggregated_when_its_manifest_lands(
    world: MonitorWorld, arrivals: Arrivals, monkeypatch: pytest.MonkeyPatch
) -> None:
    score_batch_file(
        world.aws, "batch/incoming/churn/week.csv", churn_frame(3000, seed=25)[FEATURES]
    )
    (manifest,) = [
        (k, s) for k, s in landed(world, "batch/scored/") if k.endswith(".manifest.json")
    ]
    assert arrivals.handle(*manifest) == "batch"
    files: list[str] = []
    original = MonitorSources.row_chunks

    def counting(self: Any, key: str, **kwargs: Any) -> Iterator[Any]:
        files.append(key)
        return original(self, key, **kwargs)

    monkeypatch.setattr(MonitorSources, "row_chunks", counting)

    world.run()

    assert files == []  # the run merged the file's partial
    entry = version_entry(world.report())
    assert entry["traffic"]["batch"] == entry["prediction"]["samples"] == 3000


def test_objects_that_are_not_the_monitors_are_left_alone(arrivals: Arrivals) -> None:
    assert arrivals.handle("batch/scored/churn/week.csv", 10) == "ignored"
    assert arrivals.handle("elsewhere/file.json", 10) == "ignored"
    assert arrivals.handle("capture/notes.txt", 10) == "ignored"
    assert arrivals.handle("capture/2026/13/01/00/not-a-month", 10) == "ignored"
