"""Large files split, scored in parts over the queue and assembled (moto)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tests.batch.world import (
    BatchWorld,
    csv_bytes,
    customers,
    expected_proba,
    messy_customers,
    scored_outputs,
    split_settings,
)
from tests.conftest import DATA_BUCKET


def without_ids(scored: pd.DataFrame) -> pd.DataFrame:
    return scored.drop(columns="prediction_id")


def test_a_large_file_is_split_scored_in_parts_and_assembled_as_one(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = csv_bytes(messy_customers(400))
    world.drop("batch/incoming/churn/whole.csv", body)
    world.run()
    whole_scored, whole_errors = scored_outputs(world, "whole.csv")

    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 5)
    world.drop("batch/incoming/churn/split.csv", body)
    world.run()
    manifest = world.manifest("split.csv")
    assert manifest["status"] == "succeeded", manifest
    assert manifest["parts"] >= 4
    assert manifest["rows"] == {"read": 400, "scored": 398, "rejected": 2}
    split_scored, split_errors = scored_outputs(world, "split.csv")
    # The same rows and results; only the prediction ids, made anew per scoring, differ.
    pd.testing.assert_frame_equal(without_ids(split_scored), without_ids(whole_scored))
    pd.testing.assert_frame_equal(split_errors, whole_errors)
    assert split_errors["row"].tolist() == [6, 398]
    leftovers = world.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="batch/_jobs/")
    assert "Contents" not in leftovers


def test_parts_are_assembled_by_server_side_copy(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = customers(90_000)  # ~12 MB: parts above S3's 5 MiB minimum for copies
    body = csv_bytes(frame)
    split_settings(monkeypatch, split=10 << 20, part=6 << 20)
    world.drop("batch/incoming/churn/copied.csv", body)
    world.run()
    manifest = world.manifest("copied.csv")
    assert manifest["parts"] == 2
    assert manifest["outputs"]["scored"]["assembled"] == "copy"
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/copied.csv")))
    assert len(scored) == len(frame)
    assert np.allclose(scored["proba_1"], expected_proba(frame))


def test_a_part_that_keeps_failing_lands_in_the_dlq_and_the_manifest_says_so(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.batch import _fanout as batch_fanout

    body = csv_bytes(customers(300))
    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 3)
    real_stream = batch_fanout._part_stream

    def broken_second_part(batch, event, header, part):
        if part["first_row"] > 1 and part["first_row"] < 200:
            raise ConnectionError("simulated network failure")
        return real_stream(batch, event, header, part)

    monkeypatch.setattr(batch_fanout, "_part_stream", broken_second_part)
    world.drop("batch/incoming/churn/flaky.csv", body)
    world.run()
    manifest = world.manifest("flaky.csv")
    assert manifest["status"] == "failed"
    assert "failed after 3 attempts" in manifest["reason"]
    assert "dead-letter queue" in manifest["reason"]
    assert not world.exists("batch/scored/churn/flaky.csv")
    dead = world.sqs.receive_message(QueueUrl=world.dlq_url, MaxNumberOfMessages=10)
    assert len(dead["Messages"]) == 1
    assert "sklambda_chunk" in dead["Messages"][0]["Body"]


def stray_quote_customers(n: int) -> bytes:
    """A CSV with a quote inside an unquoted field (5" screen) early on and quoted multi-line
    fields later; a blank line and a bad row in between, so row numbers are checked too."""
    frame = customers(n).astype(object)
    frame["notes"] = [
        f'two lines, "quoted"\nof {i}' if i > n // 3 and i % 9 == 0 else "plain" for i in range(n)
    ]
    frame.loc[3, "notes"] = "STRAY screen"
    frame.loc[n - 5, "age"] = "old"
    text = csv_bytes(frame).replace(b"STRAY", b'5"')  # pandas would have quoted it
    lines = text.split(b"\n")
    return b"\n".join([*lines[:20], b"", *lines[20:]])


def test_a_stray_quote_scores_the_same_whole_and_in_parts(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stray_quote_customers(300)
    assert b',5" screen\n' in body
    world.drop("batch/incoming/churn/stray-whole.csv", body)
    world.run()
    assert world.manifest("stray-whole.csv")["status"] == "succeeded"
    whole_scored, whole_errors = scored_outputs(world, "stray-whole.csv")
    assert len(whole_scored) == 299

    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 6)
    world.drop("batch/incoming/churn/stray-split.csv", body)
    world.run()
    manifest = world.manifest("stray-split.csv")
    assert manifest["status"] == "succeeded", manifest
    assert manifest["parts"] >= 5
    assert manifest["rows"] == {"read": 300, "scored": 299, "rejected": 1}
    split_scored, split_errors = scored_outputs(world, "stray-split.csv")
    # The same rows and results; only the prediction ids, made anew per scoring, differ.
    pd.testing.assert_frame_equal(without_ids(split_scored), without_ids(whole_scored))
    pd.testing.assert_frame_equal(split_errors, whole_errors)
    assert split_errors["row"].tolist() == [296]
