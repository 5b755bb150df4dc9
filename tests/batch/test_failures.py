"""How the batch scorer fails (moto): at once for what no retry can fix, after the retries for
the rest; manifests that say what happened in words, and never a scored file without one."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from chalicelib.core import AwsAccessError
from chalicelib.registry._artifacts import serialize, sha256_hex
from tests.batch.world import (
    BatchWorld,
    FakeContext,
    batch_s3,
    csv_bytes,
    customers,
    deliver,
    expected_proba,
    failing_puts,
    keys_under,
    notifications,
    pending_uploads,
    split_settings,
    sqs_event,
)
from tests.conftest import DATA_BUCKET, MODELS_BUCKET
from tests.user_code import clear_loaded_models, fit_user_model

VERSION_1 = "models/churn/versions/1/"


@pytest.fixture(autouse=True)
def fresh_models() -> Iterator[None]:
    clear_loaded_models()  # a model verified by an earlier test must be loaded from S3 again
    yield
    clear_loaded_models()


def put_model_object(world: BatchWorld, name: str, body: bytes) -> None:
    world.s3.put_object(Bucket=MODELS_BUCKET, Key=VERSION_1 + name, Body=body)


def metadata(world: BatchWorld) -> dict[str, Any]:
    return json.loads(
        world.s3.get_object(Bucket=MODELS_BUCKET, Key=VERSION_1 + "metadata.json")["Body"].read()
    )


# -- what no retry can fix ---------------------------------------------------------------------
def swap_the_artifact(world: BatchWorld, tmp_path: Path) -> None:
    """Other bytes under version 1 after registration: they are not what was signed."""
    from sklearn.dummy import DummyClassifier

    put_model_object(world, "model.joblib", serialize(DummyClassifier()))


def record_other_library_versions(world: BatchWorld, tmp_path: Path) -> None:
    """The champion was registered (and signed) under a scikit-learn this runtime lacks."""
    from unittest import mock

    from sklambda.sample_data import TARGET
    from tests.models import fitted_logreg, training_frame

    elsewhere = {**metadata(world)["runtime"], "scikit-learn": "0.20.4"}
    with (
        mock.patch("chalicelib.registry._versions.runtime_versions", return_value=elsewhere),
        without_plans(),
    ):
        version = world.registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    world.registry.promote("churn", version["version"])


def without_plans() -> Any:
    """Register as versions without a serving plan are (a plan serves whatever the pipeline's
    library versions or modules: see test_a_planned_version_serves_where_its_pipeline_cannot)."""
    from unittest import mock

    not_planned = (
        {},
        {"state": "not planned", "reason": "a test registers it unplanned"},
        {"state": "unavailable", "reason": "a test registers it unplanned"},
    )
    return mock.patch("chalicelib.registry._versions.make_plan", return_value=not_planned)


def need_a_module_nobody_ships(world: BatchWorld, tmp_path: Path) -> None:
    """A pickle over the author's `features` module and no code bundle, as versions registered
    before code shipping were, signed afterwards by an operator who vouched for it."""
    artifact = fit_user_model(tmp_path / "user").model_file.read_bytes()
    recorded = metadata(world)
    recorded["artifact"]["sha256"] = sha256_hex(artifact)
    recorded["plan"] = {"state": "not planned", "reason": "registered before plans"}
    put_model_object(world, "model.joblib", artifact)
    put_model_object(world, "metadata.json", json.dumps(recorded).encode())
    world.s3.delete_object(Bucket=MODELS_BUCKET, Key=VERSION_1 + "signature.json")
    world.registry.sign_version("churn", 1)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (swap_the_artifact, "model.joblib does not match its signed sha256"),
        (record_other_library_versions, "saved under other library versions"),
        (need_a_module_nobody_ships, "needs the module 'features'"),
    ],
)
def test_a_model_that_cannot_load_fails_the_file_on_the_first_receive(
    world: BatchWorld,
    tmp_path: Path,
    tamper: Callable[[BatchWorld, Path], None],
    reason: str,
) -> None:
    import app as app_module

    tamper(world, tmp_path)
    body = notifications(world, ["tampered"])["tampered"]

    response = app_module.score_batch(sqs_event(("m-1", body, 1)), FakeContext(900))

    assert response == {"batchItemFailures": []}  # done: a retry would fail the same way
    manifest = world.manifest("tampered.csv")
    assert manifest["status"] == "failed"
    assert reason in manifest["reason"]
    for name in ("IntegrityError", "VersionSkewError", "ModelCodeMissing", "ModuleNotFound"):
        assert name not in manifest["reason"]
    assert manifest["job_id"] and manifest["input"]["key"].endswith("tampered.csv")
    assert not world.exists("batch/scored/churn/tampered.csv")
    assert keys_under(world, "batch/_jobs/") == []


def test_a_planned_version_serves_where_its_pipeline_cannot(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan depends on neither scikit-learn's version nor the version's modules: registered
    under a scikit-learn this runtime lacks, the version is still scored, by its plan, even
    for frames large enough that a loadable pipeline would score them."""
    from unittest import mock

    import numpy as np

    from chalicelib.scoring import _scorer
    from sklambda.sample_data import TARGET
    from tests.models import fitted_logreg, training_frame

    elsewhere = {**metadata(world)["runtime"], "scikit-learn": "0.20.4"}
    with mock.patch("chalicelib.registry._versions.runtime_versions", return_value=elsewhere):
        version = world.registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    assert version["plan"]["state"] == "planned"
    world.registry.promote("churn", version["version"])
    monkeypatch.setattr(_scorer, "PLAN_FRAME_ROWS", 10)  # so 80 rows would want the pipeline
    frame = customers(80)

    world.drop("batch/incoming/churn/planned.csv", csv_bytes(frame))
    world.run()

    assert world.manifest("planned.csv")["status"] == "succeeded"
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/planned.csv")))
    np.testing.assert_allclose(scored["proba_1"], expected_proba(frame), rtol=1e-9)


# -- what the manifest says --------------------------------------------------------------------
def test_the_last_attempt_says_what_happened_and_where_to_look_never_a_class_name(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    bodies = notifications(world, ["bug", "denied"])
    scorer = app_module.batch_scorer()

    def failing(target: Any, version: int | None = None) -> Any:
        if target.path == "bug.csv":
            raise KeyError("internal detail")
        raise AwsAccessError(
            f"access denied while trying to read {VERSION_1}model.joblib (bucket "
            f"{MODELS_BUCKET!r}): grant the caller's IAM role access to the bucket"
        )

    monkeypatch.setattr(scorer.files, "scorer_for", failing)
    response = app_module.score_batch(
        sqs_event(("m-bug", bodies["bug"], 3), ("m-denied", bodies["denied"], 3)),
        FakeContext(900, request_id="req-42"),
    )

    assert len(response["batchItemFailures"]) == 2  # transient: both went on to the DLQ
    bug = world.manifest("bug.csv")["reason"]
    assert bug == (
        "scoring failed after 3 attempts: an internal error stopped scoring (request id req-42); "
        "the batch function's log has the details. The message is in the batch dead-letter "
        "queue; upload the file again to retry"
    )
    denied = world.manifest("denied.csv")["reason"]
    assert "AWS refused a request or could not be reached" in denied and "req-42" in denied
    for reason in (bug, denied):
        assert "KeyError" not in reason and "internal detail" not in reason
        assert "AwsAccessError" not in reason and MODELS_BUCKET not in reason


def test_a_part_that_keeps_failing_says_so_without_a_class_name(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.batch import _fanout as batch_fanout

    body = csv_bytes(customers(300))
    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 3)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("simulated network failure")

    monkeypatch.setattr(batch_fanout, "_part_stream", broken)
    world.drop("batch/incoming/churn/flaky.csv", body)
    world.run()
    reason = world.manifest("flaky.csv")["reason"]
    assert "failed after 3 attempts: an internal error stopped scoring (message id " in reason
    assert "ConnectionError" not in reason and "simulated" not in reason


# -- never a scored file without its manifest --------------------------------------------------
def is_manifest(key: str) -> bool:
    return key.endswith(".manifest.json")


def some_bad_rows() -> bytes:
    frame = customers(60).astype(object)
    frame.loc[4, "age"] = "old"  # one rejected row: an errors file is published too
    return csv_bytes(frame)


def test_a_manifest_that_cannot_be_written_takes_its_outputs_back_and_the_retry_publishes(
    world: BatchWorld,
) -> None:
    world.drop("batch/incoming/churn/once.csv", some_bad_rows())
    with failing_puts(batch_s3(), is_manifest, times=1) as refused:
        [first] = deliver(world, FakeContext(900))
        assert refused == ["batch/scored/churn/once.csv.manifest.json"]
        assert len(first["batchItemFailures"]) == 1  # retried
        # The first attempt left nothing behind: no output without its manifest, no claim.
        assert keys_under(world, "batch/scored/") == []
        assert keys_under(world, "batch/errors/") == []
        assert keys_under(world, "batch/_jobs/") == []
        assert pending_uploads(world) == []

        world.run()  # the retry

    manifest = world.manifest("once.csv")
    assert manifest["status"] == "succeeded"
    assert manifest["rows"] == {"read": 60, "scored": 59, "rejected": 1}
    for output in (manifest["outputs"]["scored"], manifest["outputs"]["errors"]):
        head = world.s3.head_object(Bucket=DATA_BUCKET, Key=output["key"])
        assert head["ETag"].strip('"') == output["etag"]
    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/once.csv")))
    assert len(scored) == 59


def test_when_every_manifest_write_fails_no_scored_file_is_left_without_one(
    world: BatchWorld,
) -> None:
    world.drop("batch/incoming/churn/never.csv", some_bad_rows())
    with failing_puts(batch_s3(), is_manifest) as refused:
        world.run()
    assert len(refused) == 4  # three attempts, then the failed manifest of the last one
    assert keys_under(world, "batch/scored/") == []
    assert keys_under(world, "batch/errors/") == []
    assert keys_under(world, "batch/_jobs/") == []
    assert pending_uploads(world) == []
    dead = world.sqs.receive_message(QueueUrl=world.dlq_url)
    assert len(dead["Messages"]) == 1


def test_an_assembled_file_whose_manifest_fails_is_taken_back_and_committed_again(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = some_bad_rows()
    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 3)
    world.drop("batch/incoming/churn/parts.csv", body)
    with failing_puts(batch_s3(), is_manifest, times=1) as refused:
        world.run()
    assert refused == ["batch/scored/churn/parts.csv.manifest.json"]
    manifest = world.manifest("parts.csv")
    assert manifest["status"] == "succeeded" and manifest["parts"] >= 3
    assert manifest["rows"] == {"read": 60, "scored": 59, "rejected": 1}
    scored = manifest["outputs"]["scored"]
    head = world.s3.head_object(Bucket=DATA_BUCKET, Key=scored["key"])
    assert head["ETag"].strip('"') == scored["etag"]
    assert keys_under(world, "batch/_jobs/") == []  # committed once, then cleaned up
