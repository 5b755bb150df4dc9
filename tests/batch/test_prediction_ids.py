"""Every scored row of a batch file gets a prediction id (UUIDv7) beside its prediction, so
ground truth can name it; rejected rows get none (moto, through the batch queue)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import fastparquet
import pandas as pd
import pytest

from chalicelib.core import predicted_at
from sklambda.sample_data import FEATURES
from tests.batch.world import (
    BatchWorld,
    csv_bytes,
    customers,
    messy_customers,
    scored_outputs,
    split_settings,
)


def assert_ids_of_scoring(ids: list[str], before: datetime, after: datetime) -> None:
    """Unique UUIDv7 ids, made while the file was scored (to the millisecond)."""
    assert len(set(ids)) == len(ids)
    for pid in ids:
        parsed = uuid.UUID(hex=pid)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        made = predicted_at(pid)
        assert made is not None
        assert before - timedelta(milliseconds=1) <= made <= after


def scored_now(world: BatchWorld, key: str, body: bytes) -> tuple[datetime, datetime]:
    world.drop(key, body)
    before = datetime.now(UTC)
    world.run()
    return before, datetime.now(UTC)


def test_every_scored_csv_row_has_an_id_beside_its_prediction(world: BatchWorld) -> None:
    frame = messy_customers(300)  # rows 6 and 298 cannot be scored
    before, after = scored_now(world, "batch/incoming/churn/ids.csv", csv_bytes(frame))

    scored, errors = scored_outputs(world, "ids.csv")
    columns = list(scored.columns)
    assert columns[columns.index("prediction") - 1] == "prediction_id"
    assert columns[: len(frame.columns)] == list(frame.columns)
    assert len(scored) == 298
    assert_ids_of_scoring(scored["prediction_id"].tolist(), before, after)
    assert scored["prediction_id"].tolist() == sorted(scored["prediction_id"])  # time order
    # Rejected rows are only in the errors file, which names rows, never ids.
    assert errors["row"].tolist() == [6, 298]
    assert "prediction_id" not in errors.columns
    assert world.manifest("ids.csv")["prediction_id_column"] == "prediction_id"


def test_every_scored_jsonl_row_has_an_id(world: BatchWorld) -> None:
    frame = customers(120)
    lines = frame.to_json(orient="records", lines=True).splitlines()
    lines[9] = "not json"
    body = ("\n".join(lines) + "\n").encode()
    before, after = scored_now(world, "batch/incoming/churn/ids.jsonl", body)

    rows = [json.loads(line) for line in world.get("batch/scored/churn/ids.jsonl").splitlines()]
    assert len(rows) == 119
    assert [r["customer_id"] for r in rows] == [
        c for i, c in enumerate(frame["customer_id"]) if i != 9
    ]
    keys = list(rows[0])
    assert keys[keys.index("prediction") - 1] == "prediction_id"
    assert_ids_of_scoring([r["prediction_id"] for r in rows], before, after)


def test_every_scored_parquet_row_has_an_id(world: BatchWorld, tmp_path) -> None:
    frame = customers(150)
    frame.loc[frame.index[3], "age"] = -1.0  # out of range: rejected
    path = tmp_path / "in.parquet"
    fastparquet.write(str(path), frame, write_index=False)
    before, after = scored_now(world, "batch/incoming/churn/ids.parquet", path.read_bytes())

    out = tmp_path / "out.parquet"
    out.write_bytes(world.get("batch/scored/churn/ids.parquet"))
    scored = fastparquet.ParquetFile(str(out)).to_pandas()
    manifest = world.manifest("ids.parquet")
    assert len(scored) == manifest["rows"]["scored"] == 150 - manifest["rows"]["rejected"]
    columns = list(scored.columns)
    assert columns[columns.index("prediction") - 1] == "prediction_id"
    assert_ids_of_scoring(scored["prediction_id"].tolist(), before, after)


def test_id_columns_kept_in_the_output_stay_beside_the_new_id(world: BatchWorld) -> None:
    world.registry.configure("churn", {"id_columns": ["customer_id"]})
    frame = customers(50)
    before, after = scored_now(world, "batch/incoming/churn/kept.csv", csv_bytes(frame))

    scored = pd.read_csv(io.BytesIO(world.get("batch/scored/churn/kept.csv")))
    assert list(scored.columns) == [
        "customer_id",
        "prediction_id",
        "prediction",
        "proba_0",
        "proba_1",
        "model_version",
    ]
    assert scored["customer_id"].tolist() == frame["customer_id"].tolist()
    assert_ids_of_scoring(scored["prediction_id"].tolist(), before, after)


def test_a_fanned_out_file_gets_an_id_for_every_scored_row(
    world: BatchWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = csv_bytes(messy_customers(400))
    split_settings(monkeypatch, split=len(body) // 2, part=len(body) // 5)
    before, after = scored_now(world, "batch/incoming/churn/parts.csv", body)

    manifest = world.manifest("parts.csv")
    assert manifest["status"] == "succeeded" and manifest["parts"] >= 4
    assert manifest["prediction_id_column"] == "prediction_id"
    scored, errors = scored_outputs(world, "parts.csv")
    assert len(scored) == 398 and errors["row"].tolist() == [6, 398]
    assert_ids_of_scoring(scored["prediction_id"].tolist(), before, after)
    assert list(scored.columns).count("prediction_id") == 1  # one header, from the first part
    assert scored[FEATURES].notna().any(axis=1).all()
