"""Production answers exactly as the registered pipeline does, whatever the column types.

A pipeline is fitted on a mixed-type training frame, registered through the Python API or
the CLI (from a CSV or a Parquet file), then fresh rows are scored over HTTP (JSON records,
CSV) and in batch (CSV, JSON Lines, Parquet). Every answer must equal the pipeline's own
`predict` and `predict_proba` on the fresh rows: the same labels and the same floats.

Only an empty CSV cell and JSON null are missing values, so rows holding an empty string are
not sent as CSV (it would be an empty cell). A CLI user reads the training file with
`pd.read_csv(path, keep_default_na=False, na_values=[""])` or `pd.read_parquet(path)` and
fits the pipeline on exactly that frame; fresh rows are read the same way, with its dtypes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from threadpoolctl import threadpool_limits

from chalicelib.core import reset_settings
from chalicelib.registry import Registry
from chalicelib.scoring import compile_model
from chalicelib.storage import AwsClients
from sklambda.cli import main
from tests.batch.world import BatchWorld
from tests.column_cases import TARGET, TIME_FEATURES, Case, cases, kind_of, pipeline_for


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


# -- routes: how the data scientist's frame is read, and how the pipeline is registered -----
def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def through_file(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """`frame` written to `path` and read back as the data scientist reads it."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
        return read_csv(path)
    frame.to_parquet(path, index=False)
    return pd.read_parquet(path)


def user_code(frame: pd.DataFrame) -> list[Path]:
    """The user's module a pipeline over datetime columns calls (shipped with --code)."""
    timed = any(pd.api.types.is_datetime64_any_dtype(frame[c]) for c in frame.columns)
    return [TIME_FEATURES] if timed else []


def register_api(box: Sandbox, name: str, pipeline: Any, frame: pd.DataFrame) -> int:
    code = user_code(frame)
    return box.registry.register(name, pipeline, frame, TARGET, code=code)["version"]


def register_cli(
    name: str, pipeline: Any, folder: Path, train_file: Path, frame: pd.DataFrame
) -> int:
    model_file = folder / "model.joblib"
    joblib.dump(pipeline, model_file)
    argv = ["register", name, str(model_file), "--train", str(train_file), "--target", TARGET]
    argv += [option for path in user_code(frame) for option in ("--code", str(path))]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 0, f"sklambda register exited {code}: {err.getvalue().strip()}"
    return int(json.loads(out.getvalue())["version"])


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
    return Answers(pipeline.predict(frame).tolist(), pipeline.predict_proba(frame).tolist())


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
    proba = [[p[str(c)] for c in classes] for p in answer["probabilities"]]
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
    columns = ["prediction", *[f"proba_{c}" for c in classes]]
    body = box.world.get(scored)
    if path.endswith(".parquet"):
        rows = pd.read_parquet(io.BytesIO(body))[columns].astype(object).to_numpy().tolist()
    elif path.endswith(".jsonl"):
        lines = [json.loads(line) for line in body.decode().splitlines() if line]
        rows = [[line[c] for c in columns] for line in lines]
    else:
        header, *records = csv.reader(io.StringIO(body.decode(), newline=""))
        by_text = {str(c): c for c in classes}  # CSV labels are text
        at = [header.index(c) for c in columns]
        rows = [[by_text.get(r[at[0]], r[at[0]]), *[float(r[i]) for i in at[1:]]] for r in records]
    labels = [r[0].item() if isinstance(r[0], np.generic) else r[0] for r in rows]
    return Answers(labels, [[float(p) for p in r[1:]] for r in rows])


# -- the property -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """How the training frame reaches the registry: the Python API, or the CLI with a file."""

    name: str
    suffix: str | None  # training file given to `sklambda register --train`


ROUTES = {
    r.name: r
    for r in (Route("api", None), Route("cli-csv", ".csv"), Route("cli-parquet", ".parquet"))
}


def as_read(
    route: Route, folder: Path, train: pd.DataFrame, fresh: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, Path | None]:
    """(frame the pipeline is fitted on, fresh rows with its dtypes, training file or None)."""
    if route.suffix is None:
        return train, fresh, None
    train_file = folder / f"train{route.suffix}"
    fitted_on = through_file(train, train_file)
    fresh_read = through_file(fresh, folder / f"fresh{route.suffix}")
    dtypes = fitted_on.dtypes.drop(TARGET)
    return fitted_on, fresh_read.astype(dict(dtypes.items())), train_file


def check_case(box: Sandbox, route: Route, case: Case) -> None:
    name = f"fidelity-{uuid.uuid4().hex[:12]}"  # a model of its own for each example
    folder = box.folder / name
    folder.mkdir()
    train, fresh, train_file = as_read(route, folder, *case.frames())
    pipeline, features = pipeline_for(case, train)
    pipeline.fit(train[features], train[TARGET])
    fresh = fresh[features]
    if train_file is None:
        version = register_api(box, name, pipeline, train)
    else:
        version = register_cli(name, pipeline, folder, train_file, train)
    compiled = "compiled" if compile_model(pipeline) is not None else "not compiled"
    problems = channels(box, name, version, pipeline, train, fresh)
    assert not problems, (
        f"{route.name}, {compiled}, dtypes {dict(fresh.dtypes.astype(str))}:\n"
        + "\n".join(problems)
    )


def channels(
    box: Sandbox,
    name: str,
    version: int,
    pipeline: Any,
    train: pd.DataFrame,
    fresh: pd.DataFrame,
) -> list[str]:
    """Every way production answers, compared with the pipeline on the rows sent."""
    classes = pipeline.classes_.tolist()
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


@pytest.mark.parametrize("route", sorted(ROUTES))
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow explain
)
@given(case=cases())
def test_production_answers_as_the_pipeline(box: Sandbox, route: str, case: Case) -> None:
    check_case(box, ROUTES[route], case)
