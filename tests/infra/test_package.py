"""The real package of a stage, with its dependencies: what Lambda would unpack and import.

Built by `sklambda.infra.build` exactly as `sklambda deploy` builds it (Chalice downloads the
manylinux wheels for python3.12), then checked against Lambda's size limit and imported
from the unpacked zip in a fresh interpreter that sees nothing else (`python -S`).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from sklambda.infra.build import build
from sklambda.infra.bundle import target_python, verify_zip

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(ROOT, "prod", tmp_path_factory.mktemp("package")).code_zip


def test_the_package_fits_lambda_with_margin_and_ships_bytecode(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        entries = archive.infolist()
    unzipped = sum(e.file_size for e in entries)
    assert unzipped <= 200 * MiB  # target; Lambda's limit for code + layers is 250 MiB
    names = {e.filename for e in entries}
    assert "app.py" in names and "chalicelib/registry/_registry.py" in names
    assert any(
        n.startswith("chalicelib/__pycache__/") and n.endswith(".cpython-312.pyc") for n in names
    )
    assert not [n for n in names if "/tests/" in n and n.startswith(("sklearn/", "pandas/"))]
    assert any(n.startswith("botocore/data/s3/") for n in names)
    assert not any(n.startswith("botocore/data/ec2/") for n in names)


def test_the_package_holds_no_workstation_code(package: Path) -> None:
    """The CLI, the local stack, the demo and the deploy tooling never reach a Lambda."""
    with zipfile.ZipFile(package) as archive:
        ours = {
            n: archive.read(n)
            for n in archive.namelist()
            if n == "app.py" or n.split("/")[0] in {"chalicelib", "sklambda", "infra"}
        }
    assert "app.py" in ours and all(n == "app.py" or n.startswith("chalicelib/") for n in ours)
    stems = {Path(n).name.split(".")[0].lstrip("_") for n in ours}
    assert not stems & {"cli", "demo", "local", "stack", "sample_data", "batch_client", "deploy"}
    importing = [
        n
        for n, body in ours.items()
        if n.endswith(".py") and re.search(rb"^\s*(from|import) (sklambda|infra)\b", body, re.M)
    ]
    assert importing == []


def test_the_package_imports_the_app_and_every_scikit_learn_module(package: Path) -> None:
    check = verify_zip(package, target_python(None))

    assert check.ok, check.failures
    assert check.imported > 200
