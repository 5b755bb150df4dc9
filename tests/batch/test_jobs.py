"""Batch scoring end to end on moto: S3 upload → notification → SQS → handler → outputs."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import BatchScorer, JobInProgress, ObjectEvent, job_id
from sklambda.sample_data import FEATURES, TARGET
from tests.app.test_api import emf_documents
from tests.batch.world import (
    BatchWorld,
    csv_bytes,
    customers,
    expected_proba,
    notifications,
    sqs_event,
)
from tests.conftest import DATA_BUCKET
from tests.models import fitted_logreg, training_frame


def test_a_dropped_csv_comes_back_scored_with_a_manifest(world: BatchWorld) -> None:
    frame = customers()
    world.drop("batch/incoming/churn/2026/november.csv", csv_bytes(frame))
    assert world.run() == 1
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/2026/november.csv")))
    assert list(scored.columns) == [
        *frame.columns,
        "prediction_id",
        "prediction",
        "proba_0",
        "proba_1",
        "model_version",
    ]
    assert len(scored) == len(frame)
    assert np.allclose(scored["proba_1"], expected_proba(frame))
    assert (scored["model_version"] == 1).all()
    assert scored["customer_id"].tolist() == frame["customer_id"].tolist()
    manifest = world.manifest("2026/november.csv")
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 200, "scored": 200, "rejected": 0}
    assert manifest["model"]["name"] == "churn" and manifest["model"]["version"] == 1
    assert len(manifest["model"]["sha256"]) == 64
    assert manifest["input"]["etag"] and manifest["outputs"]["scored"]["key"].endswith(
        "november.csv"
    )
    assert manifest["outputs"]["errors"] is None
    assert manifest["duration_seconds"] >= 0


def test_bad_rows_are_listed_and_the_rest_scored(world: BatchWorld) -> None:
    frame = customers(100).astype(object)
    frame.loc[3, "tenure_months"] = "ten"
    frame.loc[7, "monthly_charges"] = "inf"
    frame.loc[9, "contract"] = "weekly"  # unseen: warn policy scores it
    world.drop("batch/incoming/churn/bad-rows.csv", csv_bytes(frame))
    world.run()
    manifest = world.manifest("bad-rows.csv")
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 100, "scored": 98, "rejected": 2}
    errors = pd.read_csv(io.BytesIO(world.get("batch/errors/churn/bad-rows.csv.errors.csv")))
    assert errors[["row", "field"]].values.tolist() == [
        [4, "tenure_months"],
        [8, "monthly_charges"],
    ]
    assert "ten" in errors.loc[0, "reason"]
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/bad-rows.csv")))
    assert len(scored) == 98
    assert frame.loc[3, "customer_id"] not in scored["customer_id"].tolist()


def test_too_many_bad_rows_fail_the_file_and_publish_no_scores(world: BatchWorld) -> None:
    frame = customers(50).astype(object)
    frame.loc[:9, "age"] = "old"
    world.drop("batch/incoming/churn/mostly-bad.csv", csv_bytes(frame))
    world.run()
    manifest = world.manifest("mostly-bad.csv")
    assert manifest["status"] == "failed"
    assert "10 of 50 rows (20.0%)" in manifest["reason"]
    assert manifest["outputs"]["scored"] is None
    assert not world.exists("batch/scored/churn/mostly-bad.csv")
    assert world.exists("batch/errors/churn/mostly-bad.csv.errors.csv")


def test_duplicate_delivery_writes_once(world: BatchWorld) -> None:
    world.drop("batch/incoming/churn/dup.csv", csv_bytes(customers(30)))
    messages = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"]
    body = messages[0]["Body"]
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body)  # the duplicate
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body)
    world.run()
    first = world.s3.head_object(Bucket=DATA_BUCKET, Key="batch/scored/churn/dup.csv")
    manifest = world.manifest("dup.csv")
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body)
    world.run()
    again = world.s3.head_object(Bucket=DATA_BUCKET, Key="batch/scored/churn/dup.csv")
    assert first["ETag"] == again["ETag"] and first["LastModified"] == again["LastModified"]
    assert world.manifest("dup.csv") == manifest


def test_concurrent_duplicate_backs_off_while_the_first_holds_the_job(world: BatchWorld) -> None:
    import app as app_module

    world.drop("batch/incoming/churn/busy.csv", csv_bytes(customers(20)))
    body = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"][0]["Body"]
    event = ObjectEvent.from_record(json.loads(body)["Records"][0])
    scorer: BatchScorer = app_module.batch_scorer()
    with scorer.claims.claim("unused"):  # sanity: claims are per job
        pass
    from chalicelib.batch import job_id

    job = job_id(event.bucket, event.key, event.version_id, event.etag)
    with scorer.claims.claim(job), pytest.raises(JobInProgress):
        scorer.process(event)
    assert not world.exists("batch/scored/churn/busy.csv")
    assert scorer.process(event)["status"] == "succeeded"


def test_a_new_upload_of_the_same_key_is_scored_again(world: BatchWorld) -> None:
    world.drop("batch/incoming/churn/weekly.csv", csv_bytes(customers(20, seed=1)))
    world.run()
    first = world.manifest("weekly.csv")
    world.drop("batch/incoming/churn/weekly.csv", csv_bytes(customers(25, seed=2)))
    world.run()
    second = world.manifest("weekly.csv")
    assert second["input"]["etag"] != first["input"]["etag"]
    assert second["rows"]["read"] == 25


def test_an_older_event_arriving_late_does_not_overwrite_a_newer_result(
    world: BatchWorld,
) -> None:
    world.drop("batch/incoming/churn/late.csv", csv_bytes(customers(20, seed=1)))
    old_body = world.sqs.receive_message(QueueUrl=world.queue_url)["Messages"][0]["Body"]
    world.drop("batch/incoming/churn/late.csv", csv_bytes(customers(25, seed=2)))
    world.run()
    newest = world.manifest("late.csv")
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=old_body)
    world.run()
    assert world.manifest("late.csv") == newest


def test_unknown_model_fails_once_with_the_reason(world: BatchWorld) -> None:
    world.drop("batch/incoming/nope/file.csv", csv_bytes(customers(5)))
    world.run()
    manifest = world.manifest("file.csv", model="nope")
    assert manifest["status"] == "failed" and "no model named 'nope'" in manifest["reason"]
    assert "Messages" not in world.sqs.receive_message(QueueUrl=world.dlq_url)


def test_version_folder_picks_the_version(world: BatchWorld) -> None:
    world.registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    world.drop("batch/incoming/churn@2/pinned.csv", csv_bytes(customers(10)))
    world.run()
    assert world.manifest("pinned.csv")["model"]["version"] == 2


def test_a_retired_version_is_not_scored_and_the_manifest_says_how_to_restore(
    world: BatchWorld,
) -> None:
    world.registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    world.registry.retire("churn", 2, reason="superseded")
    world.drop("batch/incoming/churn@2/pinned.csv", csv_bytes(customers(10)))
    world.run()
    manifest = world.manifest("pinned.csv")
    assert manifest["status"] == "failed"
    assert "version 2 of 'churn' is retired" in manifest["reason"]
    assert "sklambda restore churn --version 2" in manifest["reason"]
    assert "Messages" not in world.sqs.receive_message(QueueUrl=world.dlq_url)


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet", "jsonl"])
def test_every_format_round_trips(world: BatchWorld, fmt: str) -> None:
    frame = customers(60)
    if fmt == "csv.gz":
        body = gzip.compress(csv_bytes(frame))
    elif fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer)  # as analysts write it: pyarrow
        body = buffer.getvalue()
    else:
        body = frame.to_json(orient="records", lines=True).encode()
    world.drop(f"batch/incoming/churn/file.{fmt}", body)
    world.run()
    assert world.manifest(f"file.{fmt}")["status"] == "succeeded"
    raw = world.get(f"batch/scored/churn/file.{fmt}")
    if fmt == "csv.gz":
        scored = pd.read_csv(io.BytesIO(gzip.decompress(raw)))
    elif fmt == "parquet":
        scored = pd.read_parquet(io.BytesIO(raw))
    else:
        scored = pd.read_json(io.BytesIO(raw), lines=True)
    assert np.allclose(scored["proba_1"], expected_proba(frame))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe" + "tenure_months,age\n1,2\n".encode("utf-16-le"), "UTF-8"),
        (b"a;b;c\n1;2;3\n", "delimited"),
        (b"customer_id,age\nc1,40\n", "missing columns"),
    ],
)
def test_unreadable_files_fail_with_a_reason(world: BatchWorld, body: bytes, reason: str) -> None:
    world.drop("batch/incoming/churn/bad.csv", body)
    world.run()
    manifest = world.manifest("bad.csv")
    assert manifest["status"] == "failed"
    assert reason in manifest["reason"]
    assert not world.exists("batch/scored/churn/bad.csv")


def test_header_only_fails_as_no_rows(world: BatchWorld) -> None:
    world.drop("batch/incoming/churn/empty.csv", (",".join(FEATURES) + "\n").encode())
    world.run()
    assert world.manifest("empty.csv")["reason"] == "the file has no data rows"


def test_bom_extra_columns_and_unicode_keys_work(world: BatchWorld) -> None:
    frame = customers(15)
    frame["notes"] = "kept as is"
    key = "batch/incoming/churn/Q4 résumé/ventes été.csv"
    world.drop(key, b"\xef\xbb\xbf" + csv_bytes(frame))
    world.run()
    manifest = world.manifest("Q4 résumé/ventes été.csv")
    assert manifest["status"] == "succeeded", manifest
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/Q4 résumé/ventes été.csv")))
    assert scored.columns[0] == "customer_id" and "notes" in scored.columns


def test_corrupt_parquet_fails_with_a_reason(world: BatchWorld) -> None:
    world.drop("batch/incoming/churn/broken.parquet", b"PAR1 this is not parquet PAR1")
    world.run()
    assert "Parquet" in world.manifest("broken.parquet")["reason"]


def test_batch_usage_is_counted_per_model_version_and_submitter(world: BatchWorld, capsys) -> None:
    # Without the uploader's principal in the event, the first folder names the submitter.
    world.drop("batch/incoming/churn/team-a/usage.csv", csv_bytes(customers(40)))
    world.run()
    done = next(d for d in emf_documents(capsys.readouterr().out) if "BatchRowsScored" in d)
    assert (done["Model"], done["Version"], done["Submitter"]) == ("churn", "1", "team-a")
    assert (done["BatchFiles"], done["BatchRowsScored"], done["BatchRowsRejected"]) == (1, 40, 0)
    assert done["BatchSeconds"] >= 0


def test_cli_batch_uploads_waits_with_progress_and_prints_the_summary(
    world: BatchWorld, tmp_path, capsys
) -> None:
    import threading

    from sklambda.cli import main

    path = tmp_path / "march.csv"
    path.write_bytes(csv_bytes(customers(120)))
    stop = threading.Event()

    def worker() -> None:  # the batch Lambda, polling its queue
        while not stop.is_set():
            world.run()
            stop.wait(0.1)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        code = main(["batch", "churn", str(path), "--wait", "--timeout", "60"])
    finally:
        stop.set()
        thread.join()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # The worker thread logs to the same stdout, one JSON object per line; the CLI's result
    # is the indented document.
    summary = json.loads(
        "\n".join(line for line in captured.out.splitlines() if not line.startswith('{"'))
    )
    assert summary["status"] == "succeeded"
    assert summary["rows"] == {"read": 120, "scored": 120, "rejected": 0}
    assert summary["scored"] == "batch/scored/churn/march.csv"
    assert "uploading" in captured.err and "done" in captured.err


def test_cli_batch_refuses_files_it_cannot_score(world: BatchWorld, tmp_path, capsys) -> None:
    from sklambda.cli import main

    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert main(["batch", "churn", str(path)]) == 2
    assert "use .csv, .csv.gz, .parquet or .jsonl" in capsys.readouterr().err


def test_the_handler_reports_exactly_the_messages_to_retry(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    bodies = notifications(world, ["good", "busy", "boom", "last"])
    scorer: BatchScorer = app_module.batch_scorer()
    real_scorer_for = scorer.files.scorer_for

    def network_down(target: Any, version: int | None = None) -> Any:
        if target.path in ("boom.csv", "last.csv"):
            raise ConnectionError("simulated network failure")
        return real_scorer_for(target, version)

    monkeypatch.setattr(scorer.files, "scorer_for", network_down)
    busy = ObjectEvent.from_record(json.loads(bodies["busy"])["Records"][0])
    with scorer.claims.claim(job_id(busy.bucket, busy.key, busy.version_id, busy.etag)):
        response = app_module.score_batch(
            sqs_event(
                ("m-good", bodies["good"], 1),
                ("m-garbled", "{not json", 1),  # can never succeed: dropped, not retried
                ("m-busy", bodies["busy"], 3),  # another worker has it: retried, no manifest
                ("m-boom", bodies["boom"], 2),  # retried
                ("m-last", bodies["last"], 3),  # its last receive: a failed manifest first
            ),
            None,
        )
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "m-busy"},
            {"itemIdentifier": "m-boom"},
            {"itemIdentifier": "m-last"},
        ]
    }
    assert world.manifest("good.csv")["status"] == "succeeded"
    assert not world.exists("batch/scored/churn/busy.csv.manifest.json")
    assert not world.exists("batch/scored/churn/boom.csv.manifest.json")
    last = world.manifest("last.csv")
    assert last["status"] == "failed"
    # What happened and where to look, never the exception's class (that goes to the log).
    assert last["reason"].startswith(
        "scoring failed after 3 attempts: an internal error stopped scoring (message id m-last)"
    )
    assert "ConnectionError" not in last["reason"]

    # Every message failing is answered the same way, not with an error.
    assert app_module.score_batch(sqs_event(("m-boom", bodies["boom"], 1)), None) == {
        "batchItemFailures": [{"itemIdentifier": "m-boom"}]
    }
    assert app_module.score_batch(sqs_event(("m-good", bodies["good"], 1)), None) == {
        "batchItemFailures": []
    }


def test_rows_the_model_itself_refuses_are_rejected_and_the_rest_scored(
    world: BatchWorld,
) -> None:
    # No imputer: the pipeline raises on a missing value. That is the row's problem, not a
    # fault to retry: the row is rejected with the model's reason, the others scored.
    from sklearn.linear_model import LogisticRegression

    train = training_frame()
    numbers = ["tenure_months", "monthly_charges"]
    model = LogisticRegression().fit(train[numbers], train[TARGET])
    world.registry.register("strict", model, train[[*numbers, TARGET]], TARGET)
    world.registry.promote("strict", 1)
    frame = customers(50)[numbers].astype(object)
    frame.loc[[4, 30], "tenure_months"] = None
    world.drop("batch/incoming/strict/gaps.csv", csv_bytes(frame))
    world.run()
    manifest = world.manifest("gaps.csv", model="strict")
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 50, "scored": 48, "rejected": 2}
    errors = pd.read_csv(io.BytesIO(world.get("batch/errors/strict/gaps.csv.errors.csv")))
    assert errors["row"].tolist() == [5, 31]
    assert errors["reason"].str.startswith("the model could not score these records").all()
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/strict/gaps.csv")))
    kept = frame.drop(index=[4, 30]).astype(float)
    np.testing.assert_array_equal(scored["proba_1"], model.predict_proba(kept)[:, 1])
