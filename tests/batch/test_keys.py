"""The batch key layout, and keys that must never become result keys."""

from __future__ import annotations

import json

import pytest

from chalicelib.batch import BatchLayout
from chalicelib.batch._keys import has_unsafe_segment, parse_incoming_key, refusal_target
from chalicelib.core import ConfigError, InvalidInputError, Settings
from tests.batch.world import BatchWorld, batch_s3, csv_bytes, customers, failing_puts
from tests.conftest import DATA_BUCKET


def test_outputs_under_the_incoming_prefix_are_refused() -> None:
    layout = BatchLayout(
        incoming="batch/", scored="batch/scored/", errors="batch/errors/", jobs="batch/_jobs/"
    )
    with pytest.raises(ConfigError, match="overlaps the incoming prefix"):
        layout.check()
    BatchLayout.from_settings(Settings())  # the defaults are fine


LAYOUT = BatchLayout.from_settings(Settings())
UNSAFE_KEYS = [
    "batch/incoming/churn/../../scored/x.csv",
    "batch/incoming/../x/y.csv",
    "batch/incoming/churn/a/../b.csv",
    "batch/incoming/churn/./b.csv",
    "batch/incoming/churn//b.csv",
    "batch/incoming/churn/../b.csv",
    "batch/incoming/./churn/b.csv",
    "batch/incoming//churn/b.csv",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_keys_with_empty_dot_or_dot_dot_segments_are_refused(key: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_incoming_key(key, LAYOUT)
    assert key in refused.value.message


def test_a_refusal_goes_under_a_valid_model_folder_and_never_under_an_unsafe_path() -> None:
    unsafe = refusal_target("batch/incoming/churn/../../scored/x.csv", LAYOUT)
    assert unsafe is not None and unsafe.model == "churn"
    assert unsafe.path.startswith("_refused/") and ".." not in unsafe.path
    assert unsafe.manifest_key(LAYOUT).startswith("batch/scored/churn/_refused/")
    plain = refusal_target("batch/incoming/churn@2/notes.txt", LAYOUT)
    assert plain is not None and (plain.model, plain.path) == ("churn", "notes.txt")
    for key in (
        "batch/incoming/../x/y.csv",
        "batch/incoming/./x/y.csv",
        "batch/incoming//x/y.csv",
        "batch/incoming/-bad/y.csv",
        "batch/incoming/churn/folder/",
    ):
        assert refusal_target(key, LAYOUT) is None, key


def written_keys(world: BatchWorld) -> list[str]:
    listed = world.s3.list_objects_v2(Bucket=DATA_BUCKET).get("Contents", [])
    return [item["Key"] for item in listed if not item["Key"].startswith("batch/incoming/")]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_an_unsafe_key_is_never_scored_and_nothing_lands_outside_the_outputs(
    world: BatchWorld, key: str
) -> None:
    world.drop(key, csv_bytes(customers(10)))
    world.run()
    written = written_keys(world)
    for written_key in written:
        assert written_key.startswith(("batch/scored/", "batch/errors/")), written_key
        relative = written_key.split("/", 2)[2]
        assert not has_unsafe_segment(relative), written_key
    target = refusal_target(key, LAYOUT)
    if target is None:  # no valid model folder: logged and dropped
        assert written == []
        return
    assert written == [target.manifest_key(LAYOUT)]
    manifest = json.loads(world.get(target.manifest_key(LAYOUT)))
    assert manifest["status"] == "failed" and manifest["input"]["key"] == key
    assert key in manifest["reason"] and "'..'" in manifest["reason"]
    assert manifest["outputs"] == {"scored": None, "errors": None}


def test_the_cli_refuses_an_unsafe_key_path_before_uploading(
    world: BatchWorld, tmp_path, capsys
) -> None:
    from sklambda.cli import main

    path = tmp_path / "march.csv"
    path.write_bytes(csv_bytes(customers(5)))
    assert main(["batch", "churn", str(path), "--key-path", "2026/../march.csv"]) == 2
    assert "a folder in it is empty, '.' or '..'" in capsys.readouterr().err
    assert world.s3.list_objects_v2(Bucket=DATA_BUCKET).get("KeyCount") == 0


def test_a_refusal_that_cannot_be_written_is_recorded_in_the_same_place_at_the_last_attempt(
    world: BatchWorld,
) -> None:
    key = "batch/incoming/churn/a/../b.csv"
    world.drop(key, csv_bytes(customers(5)))
    target = refusal_target(key, LAYOUT)
    assert target is not None
    with failing_puts(batch_s3(), lambda written: written.endswith(".manifest.json"), times=3):
        world.run()  # three attempts fail to write the refusal; the last records that
    assert written_keys(world) == [target.manifest_key(LAYOUT)]
    manifest = json.loads(world.get(target.manifest_key(LAYOUT)))
    assert manifest["status"] == "failed" and manifest["input"]["key"] == key
    assert manifest["reason"].startswith("scoring failed after 3 attempts: AWS refused")
