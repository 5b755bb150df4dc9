"""Batch scoring end to end on moto: S3 upload → notification → SQS → handler → outputs."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.batch import BatchLayout, BatchScorer, JobInProgress, ObjectEvent
from chalicelib.core import ConfigError, Settings, reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.local.events import drain
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.app.test_api import emf_documents
from tests.conftest import DATA_BUCKET
from tests.models import fitted_logreg, training_frame

QUEUE = "sklambda-batch"


class BatchWorld:
    """The data bucket wired to the batch queue, and the app's SQS handler to drain it."""

    def __init__(self, aws: AwsClients, registry: Registry) -> None:
        self.aws = aws
        self.s3 = aws.s3
        self.registry = registry
        self.sqs = aws.client("sqs")
        dlq = self.sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.queue_url = self.sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}
                ),
            },
        )["QueueUrl"]
        self.dlq_url = dlq
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.s3.put_bucket_notification_configuration(
            Bucket=DATA_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "batch/incoming/"}]}
                        },
                    }
                ]
            },
        )

        self.run()  # S3 announces the new configuration with a test event

    def drop(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)

    def run(self) -> int:
        import app as app_module

        return drain(self.sqs, self.queue_url, app_module.score_batch)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()

    def exists(self, key: str) -> bool:
        listed = self.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=key).get("Contents", [])
        return any(item["Key"] == key for item in listed)

    def manifest(self, path: str, model: str = "churn") -> dict[str, Any]:
        return json.loads(self.get(f"batch/scored/{model}/{path}.manifest.json"))


@pytest.fixture
def world(aws: AwsClients, registry: Registry) -> Iterator[BatchWorld]:
    import app as app_module

    registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    registry.promote("churn", 1)
    reset_settings()
    app_module.reset()
    yield BatchWorld(aws, registry)
    reset_settings()
    app_module.reset()


def customers(n: int = 200, seed: int = 11) -> pd.DataFrame:
    return churn_frame(n, seed=seed, with_target=False)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def expected_proba(frame: pd.DataFrame) -> np.ndarray:
    return fitted_logreg().predict_proba(frame[FEATURES])[:, 1]


def test_a_dropped_csv_comes_back_scored_with_a_manifest(world: BatchWorld) -> None:
    frame = customers()
    world.drop("batch/incoming/churn/2026/november.csv", csv_bytes(frame))
    assert world.run() == 1
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/2026/november.csv")))
    assert list(scored.columns) == [
        *frame.columns,
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
    with scorer.claim("unused"):  # sanity: claims are per job
        pass
    from chalicelib.batch import job_id

    job = job_id(event.bucket, event.key, event.version_id, event.etag)
    with scorer.claim(job), pytest.raises(JobInProgress):
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


def test_outputs_under_the_incoming_prefix_are_refused() -> None:
    layout = BatchLayout(
        incoming="batch/", scored="batch/scored/", errors="batch/errors/", jobs="batch/_jobs/"
    )
    with pytest.raises(ConfigError, match="overlaps the incoming prefix"):
        layout.check()
    BatchLayout.from_settings(Settings())  # the defaults are fine


def split_settings(monkeypatch: pytest.MonkeyPatch, split: int, part: int) -> None:
    import app as app_module

    monkeypatch.setenv("SKLAMBDA_BATCH_SPLIT_BYTES", str(split))
    monkeypatch.setenv("SKLAMBDA_BATCH_PART_BYTES", str(part))
    reset_settings()
    app_module.reset()


def messy_customers(n: int) -> pd.DataFrame:
    frame = customers(n).astype(object)
    frame["notes"] = [
        f'line one, "quoted"\nline two of {i}' if i % 7 == 0 else "plain" for i in range(n)
    ]
    frame.loc[5, "age"] = "old"
    frame.loc[n - 3, "tenure_months"] = "soon"
    return frame


def scored_outputs(world: BatchWorld, path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    scored = pd.read_csv(io.BytesIO(world.get(f"batch/scored/churn/{path}")))
    errors = pd.read_csv(io.BytesIO(world.get(f"batch/errors/churn/{path}.errors.csv")))
    return scored, errors


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
    pd.testing.assert_frame_equal(split_scored, whole_scored)
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
    pd.testing.assert_frame_equal(split_scored, whole_scored)
    pd.testing.assert_frame_equal(split_errors, whole_errors)
    assert split_errors["row"].tolist() == [296]


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
