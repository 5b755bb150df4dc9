"""Models over the data scientist's own code, through the registry on moto: stored with the
version, loaded in isolation, and refused at register when Lambda could not import them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from chalicelib.core import IntegrityError, InvalidInputError
from chalicelib.registry import Registry
from chalicelib.storage import AwsClients
from sklambda.sample_data import FEATURES, TARGET
from tests.conftest import MODELS_BUCKET
from tests.models import fitted_logreg, training_frame
from tests.user_code import UserModel, fit_user_model, forget


@pytest.fixture(autouse=True)
def no_user_module_left() -> Iterator[None]:
    yield
    assert "features" not in sys.modules


@pytest.fixture
def user(tmp_path: Path) -> UserModel:
    return fit_user_model(tmp_path / "v1")


def keys(aws: AwsClients) -> list[str]:
    listed = aws.s3.list_objects_v2(Bucket=MODELS_BUCKET).get("Contents", [])
    return [item["Key"] for item in listed]


def register(registry: Registry, user: UserModel, name: str = "tailored", **kwargs):
    with user.importable():
        return registry.register(
            name, user.estimator, training_frame(), TARGET, code=[user.code], **kwargs
        )


def test_code_is_stored_with_the_version_and_the_model_loads_without_the_module(
    registry: Registry, aws: AwsClients, user: UserModel
) -> None:
    metadata = register(registry, user)

    assert metadata["code"]["modules"] == ["features"]
    assert list(metadata["code"]["files"]) == ["features.py"]
    assert metadata["code"]["file"] == "code.zip" and len(metadata["code"]["sha256"]) == 64
    assert registry.get_metadata("tailored", 1)["code"] == metadata["code"]
    assert "models/tailored/versions/1/code.zip" in keys(aws)

    loaded = registry.load("tailored", 1)
    rows = training_frame().head(50)
    assert np.allclose(loaded.estimator.predict_proba(rows[FEATURES])[:, 1], user.proba(rows))
    assert "features" not in sys.modules  # importable only while the version loaded


def test_a_package_directory_ships_and_loads(registry: Registry, tmp_path: Path) -> None:
    user = fit_user_model(tmp_path / "pkg", package=True)
    metadata = register(registry, user)
    assert sorted(metadata["code"]["files"]) == ["features/__init__.py", "features/transforms.py"]
    rows = training_frame().head(20)
    loaded = registry.load("tailored", 1)
    assert np.allclose(loaded.estimator.predict_proba(rows[FEATURES])[:, 1], user.proba(rows))


def test_two_versions_with_conflicting_modules_each_load_their_own(
    registry: Registry, tmp_path: Path
) -> None:
    gentle = fit_user_model(tmp_path / "gentle", power=0.5)
    steep = fit_user_model(tmp_path / "steep", power=2.0)
    register(registry, gentle)
    register(registry, steep)
    rows = training_frame().head(100)
    assert not np.allclose(gentle.proba(rows), steep.proba(rows))

    first = registry.load("tailored", 1).estimator
    second = registry.load("tailored", 2).estimator
    for _ in range(2):  # and again, in either order, in the same warm process
        assert np.allclose(first.predict_proba(rows[FEATURES])[:, 1], gentle.proba(rows))
        assert np.allclose(second.predict_proba(rows[FEATURES])[:, 1], steep.proba(rows))


def test_a_tampered_code_bundle_is_refused_before_unpickling(
    registry: Registry, aws: AwsClients, user: UserModel
) -> None:
    register(registry, user)
    key = "models/tailored/versions/1/code.zip"
    body = aws.s3.get_object(Bucket=MODELS_BUCKET, Key=key)["Body"].read()
    aws.s3.put_object(
        Bucket=MODELS_BUCKET, Key=key, Body=body.replace(b"POWER = 0.5", b"POWER = 9.5")
    )
    loader = mock.Mock()
    with pytest.raises(IntegrityError) as caught:
        registry.load("tailored", 1, loader=loader)
    assert caught.value.message.startswith(
        "tailored version 1: code.zip does not match its signed sha256"
    )
    assert "refusing to load it" in caught.value.message
    loader.assert_not_called()


def test_a_model_over_an_unshipped_module_is_refused_and_nothing_is_written(
    registry: Registry, aws: AwsClients, user: UserModel
) -> None:
    with user.importable(), pytest.raises(InvalidInputError) as caught:
        registry.register("tailored", user.estimator, training_frame(), TARGET)
    assert caught.value.message == (
        "the model needs the module 'features', which is neither in the Lambda runtime nor in "
        "the code registered with it; pass its file or package with --code (code=[...] from "
        "Python)"
    )
    assert keys(aws) == []


def test_a_function_defined_in_a_notebook_is_refused(
    registry: Registry, aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    def log_tenure(X):  # what a notebook cell defines: a function of __main__
        return np.log1p(X)

    log_tenure.__module__ = "__main__"
    log_tenure.__qualname__ = "log_tenure"
    monkeypatch.setattr(sys.modules["__main__"], "log_tenure", log_tenure, raising=False)
    frame = training_frame()
    model = make_pipeline(FunctionTransformer(log_tenure), LogisticRegression())
    model.fit(frame[["tenure_months"]], frame[TARGET])

    with pytest.raises(InvalidInputError) as caught:
        registry.register("notebook", model, frame[["tenure_months", TARGET]], TARGET)
    assert caught.value.message == (
        "the model uses log_tenure defined in __main__ (a notebook or script), which no other "
        "process can import: move it into a module (e.g. features.py), import it from there, "
        "refit, save, and register with --code features.py"
    )
    assert keys(aws) == []


def test_code_that_needs_a_module_it_does_not_ship_is_named_at_register(
    registry: Registry, aws: AwsClients, tmp_path: Path
) -> None:
    # features.py imports a helper that is on the author's path but not given as code:
    # everything works on the laptop, and would fail on Lambda.
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "helpers.py").write_text("EXPONENT = 0.5\n")
    user = fit_user_model(tmp_path / "v1")
    user.code.write_text("from helpers import EXPONENT\n" + user.code.read_text())
    with pytest.raises(InvalidInputError) as caught:
        register(registry, user)
    forget(user.folder, "helpers")
    assert caught.value.message == (
        "the model does not load with only the Lambda runtime and its code: it needs the "
        "module 'helpers'; pass its file or package with --code (code=[...] from Python)"
    )
    assert keys(aws) == []


def test_plain_scikit_learn_models_need_no_code_and_no_subprocess(registry: Registry) -> None:
    with mock.patch("subprocess.run") as run:
        metadata = registry.register("churn", fitted_logreg(), training_frame(), TARGET)
    run.assert_not_called()
    assert "code" not in metadata
    assert registry.load("churn", 1).code is None


def test_loading_a_version_leaves_the_sessions_own_module_alone(
    registry: Registry, tmp_path: Path
) -> None:
    shipped = fit_user_model(tmp_path / "shipped", power=2.0)
    register(registry, shipped)
    mine = fit_user_model(tmp_path / "mine", power=0.5)
    rows = training_frame().head(30)
    with mine.importable():
        session_module = sys.modules["features"]
        loaded = registry.load("tailored", 1)
        assert sys.modules["features"] is session_module
        assert session_module.POWER == 0.5
        assert np.allclose(
            loaded.estimator.predict_proba(rows[FEATURES])[:, 1], shipped.proba(rows)
        )
