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
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from chalicelib.scoring import compile_model
from sklambda.cli import main
from tests.app.production import Sandbox, channels
from tests.column_cases import TARGET, TIME_FEATURES, Case, cases, pipeline_for


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
