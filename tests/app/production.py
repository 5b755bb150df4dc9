"""Production as a user meets it, for tests that compare it with the user's pipeline: a
sandbox (moto, the registry, the batch queue, the HTTP app) and every channel a model answers
through (HTTP JSON and CSV, batch CSV, JSON Lines and Parquet), compared with the pipeline's
own `predict` (and `predict_proba` for classifiers) on the rows sent.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chalice.test import Client
from threadpoolctl import threadpool_limits

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from tests.batch.world import BatchWorld
from tests.column_cases import kind_of


class Sandbox:
    """moto with both buckets, a registry, the batch queue and the HTTP app, shared by the
    examples of one test (each registers its own model)."""

    def __init__(self, folder: Path, registry: Registry, world: BatchWorld, client: Client):
        self.folder = folder
        self.registry = registry
        self.world = world
        self.client = client

    def __repr__(self) -> str:
        return "Sandbox(moto)"  # what a failing example shows for the fixture


@pytest.fixture
def box(
    aws: AwsClients, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """One moto for all examples of a test; the batch scorer gives up after one attempt."""
    import app as app_module

    # A failure here is no accident of the moment: the first attempt records it.
    monkeypatch.setenv("SKLAMBDA_BATCH_MAX_RECEIVES", "1")
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "t"}')
    reset_settings()
    app_module.reset()
    world = BatchWorld(aws, registry)
    dlq = world.sqs.get_queue_attributes(QueueUrl=world.dlq_url, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq["Attributes"]["QueueArn"], "maxReceiveCount": "1"}
    world.sqs.set_queue_attributes(
        QueueUrl=world.queue_url, Attributes={"RedrivePolicy": json.dumps(redrive)}
    )
    # Frames of a few hundred rows: OpenMP threads (HistGradientBoosting) only cost time.
    with (
        threadpool_limits(limits=1, user_api="openmp"),
        Client(app_module.app, project_dir=str(tmp_path)) as client,
    ):
        yield Sandbox(tmp_path, registry, world, client)
    reset_settings()
    app_module.reset()


# -- what is sent: JSON values and CSV text of the fresh rows --------------------------------
def json_value(value: Any) -> Any:
    """A frame value as JSON carries it: null, number, string, boolean; ISO 8601 datetimes."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = {name: [json_value(v) for v in frame[name].tolist()] for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def csv_writable(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows CSV can carry: an empty string can only be written as an empty (missing) cell."""
    empty = np.zeros(len(frame), bool)
    for name in frame.columns:
        empty |= frame[name].map(lambda v: isinstance(v, str) and not v).to_numpy(dtype=bool)
    return frame[~empty]


def has_novel_values(train: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    """Whether a text column of `fresh` holds a value its training column never had (datetimes
    read from CSV are text: fresh ones are new values)."""
    for name in fresh.columns:
        if kind_of(train[name]) == "text" and not set(fresh[name].dropna()) <= set(train[name]):
            return True
    return False


# -- what comes back ------------------------------------------------------------------------
@dataclass
class Answers:
    """Labels and probabilities (class order) per row."""

    labels: list[Any]
    proba: list[list[float]]


def expected_answers(pipeline: Any, frame: pd.DataFrame) -> Answers:
    """The pipeline's labels (or values) and, for classifiers with them, probabilities."""
    labels = pipeline.predict(frame).tolist()
    if _classes(pipeline) and hasattr(pipeline, "predict_proba"):
        return Answers(labels, pipeline.predict_proba(frame).tolist())
    return Answers(labels, [[] for _ in labels])


def _classes(pipeline: Any) -> list[Any]:
    classes = getattr(pipeline, "classes_", None)
    return [] if classes is None else classes.tolist()


def differences(channel: str, got: Answers, want: Answers, inputs: list[Any]) -> list[str]:
    """Rows whose answer differs, as one readable line (the first such row shown)."""
    if len(got.labels) != len(want.labels):
        return [f"{channel}: {len(got.labels)} answers for {len(want.labels)} rows"]
    wrong = [
        i
        for i in range(len(want.labels))
        if got.labels[i] != want.labels[i] or got.proba[i] != want.proba[i]
    ]
    if not wrong:
        return []
    i = wrong[0]
    return [
        f"{channel}: {len(wrong)} of {len(want.labels)} rows differ; row {i} {inputs[i]!r}: "
        f"got {got.labels[i]!r} {got.proba[i]}, expected {want.labels[i]!r} {want.proba[i]}"
    ]


def http_answers(
    box: Sandbox, path: str, body: str, classes: list[Any], content_type: str, novel: bool
) -> Answers | str:
    """Answers of one predict request, or why there are none; warnings (of categories never
    seen) are wrong unless some value sent was `novel`, absent from the training frame."""
    response = box.client.http.post(path, headers={"Content-Type": content_type}, body=body)
    answer = response.json_body
    if response.status_code != 200:
        details = answer.get("details") or []
        return f"HTTP {response.status_code}: {answer.get('message')} {details[:2]}"
    if answer["warnings"] and not novel:
        return f"warnings {answer['warnings']}"
    probabilities = answer.get("probabilities") or [{} for _ in answer["predictions"]]
    proba = [[p[str(c)] for c in classes if str(c) in p] for p in probabilities]
    return Answers(answer["predictions"], proba)


def batch_answers(box: Sandbox, name: str, path: str, classes: list[Any]) -> Answers | str:
    """Answers of a scored batch file, or why there are none for some rows."""
    scored = f"batch/scored/{name}/{path}"
    if not box.world.exists(f"{scored}.manifest.json"):
        return "no manifest"
    manifest = json.loads(box.world.get(f"{scored}.manifest.json"))
    rejected = manifest.get("rows", {}).get("rejected")
    if rejected:
        errors = box.world.get(f"batch/errors/{name}/{path}.errors.csv").decode().splitlines()
        return f"{rejected} rows rejected, first: {errors[1:3]}"
    if manifest["status"] != "succeeded":
        return f"{manifest['status']}: {manifest.get('reason')}"
    body = box.world.get(scored)
    header = body.decode().partition("\n")[0] if path.endswith(".csv") else ""
    with_proba = [c for c in classes if not header or f"proba_{c}" in header.split(",")]
    if path.endswith(".parquet"):
        with_proba = [
            c for c in classes if f"proba_{c}" in pd.read_parquet(io.BytesIO(body)).columns
        ]
    elif path.endswith(".jsonl"):
        first = json.loads(body.decode().splitlines()[0])
        with_proba = [c for c in classes if f"proba_{c}" in first]
    columns = ["prediction", *[f"proba_{c}" for c in with_proba]]
    if path.endswith(".parquet"):
        rows = pd.read_parquet(io.BytesIO(body))[columns].astype(object).to_numpy().tolist()
    elif path.endswith(".jsonl"):
        lines = [json.loads(line) for line in body.decode().splitlines() if line]
        rows = [[line[c] for c in columns] for line in lines]
    else:
        header, *records = csv.reader(io.StringIO(body.decode(), newline=""))
        by_text = {str(c): c for c in classes}  # CSV labels are text; values are numbers
        at = [header.index(c) for c in columns]
        label: Callable[[str], Any] = by_text.__getitem__ if classes else float
        rows = [[label(r[at[0]]), *[float(r[i]) for i in at[1:]]] for r in records]
    labels = [r[0].item() if isinstance(r[0], np.generic) else r[0] for r in rows]
    return Answers(labels, [[float(p) for p in r[1:]] for r in rows])


def channels(
    box: Sandbox,
    name: str,
    version: int,
    pipeline: Any,
    train: pd.DataFrame,
    fresh: pd.DataFrame,
) -> list[str]:
    """Every way production answers, compared with the pipeline on the rows sent."""
    classes = _classes(pipeline)
    records = json_records(fresh)
    in_csv = csv_writable(fresh)
    csv_text = in_csv.to_csv(index=False)
    path = f"/models/{name}/predict?version={version}"
    novel = has_novel_values(train, fresh)
    body = json.dumps({"records": records})
    answers: dict[str, Answers | str] = {
        "HTTP JSON": http_answers(box, path, body, classes, "application/json", novel)
    }
    files = {
        "jsonl": "".join(json.dumps(r) + "\n" for r in records).encode(),
        "parquet": fresh.to_parquet(index=False),
    }
    if len(in_csv):
        answers["HTTP CSV"] = http_answers(box, path, csv_text, classes, "text/csv", novel)
        files["csv"] = csv_text.encode()
    for fmt, content in files.items():
        box.world.drop(f"batch/incoming/{name}@{version}/fresh.{fmt}", content)
    box.world.run()
    for fmt in files:
        answers[f"batch {fmt}"] = batch_answers(box, name, f"fresh.{fmt}", classes)
    problems: list[str] = []
    for channel, got in answers.items():
        sent = in_csv if channel.lower().endswith("csv") else fresh
        if isinstance(got, str):
            problems.append(f"{channel}: {got}")
        else:
            want = expected_answers(pipeline, sent)
            problems.extend(differences(channel, got, want, json_records(sent)))
    return problems
