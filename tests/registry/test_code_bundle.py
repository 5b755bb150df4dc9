"""A version's code bundle, without AWS: deterministic bytes, what goes in, what is refused,
and the references a model's pickle makes."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from chalicelib.core import InvalidInputError
from chalicelib.registry import build_code_archive
from chalicelib.registry._code_bundle import MAX_CODE_BYTES
from chalicelib.registry._code_check import check_references, pickle_references
from tests.models import fitted_logreg
from tests.user_code import fit_user_model


def names_in(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_the_same_sources_give_the_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text("X = 1\n")
    first = build_code_archive([tmp_path / "features.py"])
    os.utime(tmp_path / "features.py", (0, 1_900_000_000))
    (tmp_path / "features.py").chmod(0o600)
    again = build_code_archive([str(tmp_path / "features.py")])
    assert first.data == again.data
    assert first.info["sha256"] == again.info["sha256"]
    (tmp_path / "features.py").write_text("X = 2\n")
    assert build_code_archive([tmp_path / "features.py"]).info["sha256"] != first.info["sha256"]


def test_modules_sit_at_the_root_with_python_files_only(tmp_path: Path) -> None:
    package = tmp_path / "src" / "mytransforms"
    (package / "nested").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "__init__.py").write_text("")
    (package / "nested" / "deep.py").write_text("")
    (package / "notes.txt").write_text("not code")
    (package / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0")
    (package / "__pycache__" / "stale.py").write_text("")
    (tmp_path / "helpers.py").write_text("")

    archive = build_code_archive([package, tmp_path / "helpers.py"])

    assert names_in(archive.data) == [
        "helpers.py",
        "mytransforms/__init__.py",
        "mytransforms/nested/deep.py",
    ]
    assert archive.info["modules"] == ["helpers", "mytransforms"]
    assert set(archive.info["files"]) == set(names_in(archive.data))
    assert archive.info["size_bytes"] == len(archive.data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda root: root / "nowhere.py",
            "code path '{root}/nowhere.py' does not exist; pass a module file (features.py) "
            "or a package directory (with __init__.py)",
        ),
        (
            lambda root: (root / "data.csv", (root / "data.csv").write_text("a"))[0],
            "code path '{root}/data.csv' is neither a module file (.py) nor a package "
            "directory with __init__.py; pass one of those",
        ),
        (
            lambda root: (root / "plain", (root / "plain").mkdir())[0],
            "code path '{root}/plain' is neither a module file (.py) nor a package directory "
            "with __init__.py; pass one of those",
        ),
        (
            lambda root: (root / "my-features.py", (root / "my-features.py").write_text(""))[0],
            "code path '{root}/my-features.py': 'my-features' is not a valid module name, so "
            "Python cannot import it; rename it to letters, digits and underscores "
            "(e.g. 'my_features')",
        ),
        (
            lambda root: (root / "sklearn.py", (root / "sklearn.py").write_text(""))[0],
            "code path '{root}/sklearn.py': the module name 'sklearn' is taken by the Lambda "
            "runtime (the standard library, scikit-learn, numpy, pandas, ... or chalicelib); "
            "rename your module",
        ),
    ],
)
def test_paths_that_cannot_be_shipped_are_refused_saying_what_to_fix(
    tmp_path: Path, make, message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_code_archive([make(tmp_path)])
    assert caught.value.message == message.format(root=tmp_path)


@pytest.mark.parametrize("name", ["numpy", "pandas", "chalicelib", "json", "typing_extensions"])
def test_no_module_may_shadow_the_runtime(tmp_path: Path, name: str) -> None:
    (tmp_path / f"{name}.py").write_text("")
    with pytest.raises(InvalidInputError, match=f"the module name '{name}' is taken"):
        build_code_archive([tmp_path / f"{name}.py"])


def test_one_module_twice_and_oversized_code_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "features.py").write_text("")
    (tmp_path / "features.py").write_text("")
    with pytest.raises(InvalidInputError, match="are both the module 'features'; pass each"):
        build_code_archive([tmp_path / "features.py", tmp_path / "a" / "features.py"])

    (tmp_path / "big.py").write_text("#" * (MAX_CODE_BYTES + 1))
    with pytest.raises(InvalidInputError) as caught:
        build_code_archive([tmp_path / "big.py"])
    assert caught.value.message == (
        "the code given is over the 5 MB limit for a version's code; pass only your own "
        "Python modules (data belongs in S3, libraries in requirements.txt)"
    )


def test_the_pickle_scan_finds_user_modules_and_nothing_else_of_scikit_learn(
    tmp_path: Path,
) -> None:
    user = fit_user_model(tmp_path)
    with user.importable():
        references = pickle_references(user.estimator)
        check_references(user.estimator, ["features"])
        with pytest.raises(InvalidInputError, match="needs the module 'features'"):
            check_references(user.estimator, [])
    assert {("features", "shape"), ("features", "Clipper")} <= references
    assert {module.partition(".")[0] for module, _ in pickle_references(fitted_logreg())} <= {
        "sklearn",
        "numpy",
        "builtins",
        "copyreg",
        "_codecs",
    }
