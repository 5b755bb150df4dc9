"""`sklambda register --code`: a model over the author's own module, registered from a shell
where that module is not importable, described, and refused with what to fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.cli import main
from sklambda.sample_data import FEATURES, TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import training_frame
from tests.user_code import UserModel, fit_user_model
from tests.workstation.test_cli import run


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    training_frame().to_csv(path, index=False)
    return path


def register(capsys, user: UserModel, train_csv: Path, *extra: str) -> tuple[int, str, str]:
    model = [str(user.model_file), "--train", str(train_csv), "--target", TARGET]
    return run(capsys, "register", "tailored", *model, *extra)


def nothing_written(aws: AwsClients) -> bool:
    return "Contents" not in aws.s3.list_objects_v2(Bucket=MODELS_BUCKET)


@pytest.mark.parametrize("package", [False, True], ids=["module", "package"])
def test_register_with_code_then_describe(
    aws, registry: Registry, tmp_path: Path, train_csv: Path, capsys, package: bool
) -> None:
    user = fit_user_model(tmp_path / "work", package=package)
    assert "features" not in sys.modules  # not importable in the shell that registers

    code, out, err = register(capsys, user, train_csv, "--code", str(user.code))

    assert (code, err) == (0, "")
    metadata = json.loads(out)
    assert metadata["code"]["modules"] == ["features"]
    assert "features" not in sys.modules
    loaded = registry.load("tailored", 1)
    rows = training_frame().head(40)
    assert np.allclose(loaded.estimator.predict_proba(rows[FEATURES])[:, 1], user.proba(rows))

    code, out, _ = run(capsys, "describe", "tailored", "--output", "table")
    files = "2 files" if package else "1 file"
    size = metadata["code"]["size_bytes"]
    sha = metadata["code"]["sha256"][:12]
    assert f"features ({files}, {size} bytes, sha256 {sha})" in out
    code, out, _ = run(capsys, "describe", "tailored", "--query", "code.modules")
    assert json.loads(out) == ["features"]


def test_a_model_file_needing_a_module_says_to_pass_it(
    aws, tmp_path: Path, train_csv: Path, capsys
) -> None:
    user = fit_user_model(tmp_path / "work")
    code, out, err = register(capsys, user, train_csv)
    assert code == 2 and out == ""
    assert err == (
        f"sklambda: error: {str(user.model_file)!r} needs the module 'features', which is not "
        "importable here; pass its file or package with --code\n"
    )
    assert nothing_written(aws)


def test_a_model_file_over_a_notebook_function_says_to_move_it_into_a_module(
    aws, tmp_path: Path, train_csv: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    def log_tenure(X):  # defined in a notebook cell: a function of __main__
        return np.log1p(X)

    log_tenure.__module__ = "__main__"
    log_tenure.__qualname__ = "log_tenure"
    frame = training_frame()
    model = make_pipeline(FunctionTransformer(log_tenure), LogisticRegression())
    model.fit(frame[["tenure_months"]], frame[TARGET])
    path = tmp_path / "notebook.joblib"
    with monkeypatch.context() as notebook:
        notebook.setattr(sys.modules["__main__"], "log_tenure", log_tenure, raising=False)
        joblib.dump(model, path)

    code, _, err = run(
        capsys, "register", "nb", str(path), "--train", str(train_csv), "--target", TARGET
    )

    assert code == 2
    assert err == (
        f"sklambda: error: {str(path)!r}: the model uses log_tenure defined in __main__ (a "
        "notebook or script), which no other process can import: move it into a module (e.g. "
        "features.py), import it from there, refit, save, and register with --code "
        "features.py\n"
    )
    assert nothing_written(aws)


def test_bad_code_paths_are_refused_before_anything_is_read(
    aws, tmp_path: Path, train_csv: Path, capsys
) -> None:
    user = fit_user_model(tmp_path / "work")
    (tmp_path / "my-features.py").write_text("")
    code, _, err = register(capsys, user, train_csv, "--code", str(tmp_path / "my-features.py"))
    assert code == 2
    assert "'my-features' is not a valid module name" in err and err.count("\n") == 1
    code, _, err = register(capsys, user, train_csv, "--code", str(tmp_path / "gone.py"))
    assert code == 2 and "does not exist" in err
    assert nothing_written(aws)


def test_register_help_describes_code(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["register", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # whatever the wrapping
    assert "--code PATH" in out and "package directory the model imports" in out
    assert "--missing-marker COLUMN=TEXT" in out


def test_code_other_than_the_model_was_fitted_with_is_named(
    aws, tmp_path: Path, train_csv: Path, capsys
) -> None:
    user = fit_user_model(tmp_path / "work")
    other = tmp_path / "elsewhere" / "features.py"
    other.parent.mkdir()
    other.write_text("def shape(X):\n    return X\n")  # no Clipper
    code, _, err = register(capsys, user, train_csv, "--code", str(other))
    assert code == 2
    assert err == (
        f"sklambda: error: {str(user.model_file)!r} needs 'Clipper' from the module 'features', "
        "which does not define it; pass the code the model was fitted with (--code)\n"
    )
    assert nothing_written(aws)
