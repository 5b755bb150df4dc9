"""sklambda/infra/bundle.py on a small synthetic deployment zip (no chalice package, no network)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from sklambda.infra.bundle import (
    AWS_SERVICES,
    TASK_ROOT,
    UNZIPPED_TARGET,
    BundleReport,
    misaligned_load_segments,
    prune_rules,
    slim_package,
    target_python,
    verify_imports,
)

APP = "import chalicelib.core\nVALUE = chalicelib.core.VALUE\n"
CORE = 'VALUE = "from the pyc"\n'
LIBRARY = textwrap.dedent(
    '''\
    """The library's module docstring."""


    def documented():
        """What the function does."""
        return __doc__


    def checked(x):
        assert x > 0, "asserts stay"
        return x


    def fails():
        raise ValueError("boom")


    def known(word):
        # A frozenset constant, whose iteration order depends on the string hash seed.
        return word in {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
    '''
)
TEST_SUITE = {
    "lib/tests/__init__.py": "",
    "lib/tests/test_lib.py": "def test_nothing():\n    pass\n" * 20,
    "lib/sub/test/data.csv": "a,b\n1,2\n",
    "lib/conftest.py": "import pytest\n",
}
STUBS = {"lib/__init__.pyi": "def documented() -> str: ...\n", "lib/py.typed": ""}
BUILD_INPUTS = {"lib/_speed.pyx": "cdef int x\n", "lib/include/lib.h": "int x;\n"}
SERVICE_MODELS = {
    "botocore/__init__.py": "",
    "botocore/data/endpoints.json": "{}",
    "botocore/data/s3/2006-03-01/service-2.json.gz": "s3 model",
    "botocore/data/ec2/2016-11-15/service-2.json.gz": "ec2 model" * 100,
}
KEPT = {
    "app.py": APP,
    "chalicelib/__init__.py": "",
    "chalicelib/core.py": CORE,
    "lib/__init__.py": LIBRARY,
    "lib/testing.py": "def assert_same(a, b):\n    assert a == b\n",
    "lib/sub/__init__.py": "",
    "lib-1.0.dist-info/METADATA": "Name: lib\nVersion: 1.0\n",
    "typing_like.py": "X = 1\n",
}
STALE_BYTECODE = {"chalicelib/__pycache__/core.cpython-311.pyc": "not bytecode"}


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def source_zip(tmp_path: Path) -> Path:
    files = {**KEPT, **TEST_SUITE, **STUBS, **BUILD_INPUTS, **SERVICE_MODELS, **STALE_BYTECODE}
    return write_zip(tmp_path / "deployment.zip", files)


def slim(source: Path, dest: Path, **options: frozenset[str]) -> BundleReport:
    return slim_package(source, dest, python=sys.executable, **options)


def unpack(zip_path: Path, directory: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(directory)
    return directory


def run_python(directory: Path, code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that sees the stdlib and `directory` only, and writes no bytecode."""
    env = {"PYTHONPATH": str(directory), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return archive.namelist()


def size_of(files: dict[str, str]) -> int:
    return sum(len(text.encode()) for text in files.values())


def test_drops_test_suites_stubs_build_inputs_and_unused_service_models(
    source_zip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "slim.zip"
    slim(source_zip, out)
    shipped = set(names(out))

    for dropped in [*TEST_SUITE, *STUBS, *BUILD_INPUTS, *STALE_BYTECODE]:
        assert dropped not in shipped
    assert "botocore/data/ec2/2016-11-15/service-2.json.gz" not in shipped
    assert {
        "botocore/data/endpoints.json",
        "botocore/data/s3/2006-03-01/service-2.json.gz",
        "lib-1.0.dist-info/METADATA",
        "lib/testing.pyc",  # a `testing` module is library code, not a test suite
    } <= shipped


def test_third_party_ships_as_bytecode_and_first_party_keeps_its_sources(
    source_zip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "slim.zip"
    slim(source_zip, out)
    shipped = set(names(out))

    assert {"lib/__init__.pyc", "typing_like.pyc", "lib/sub/__init__.pyc"} <= shipped
    assert not {"lib/__init__.py", "typing_like.py"} & shipped
    assert {"app.py", "chalicelib/core.py"} <= shipped
    cached = importlib.util.cache_from_source("chalicelib/core.py")
    assert cached in shipped
    assert importlib.util.cache_from_source("app.py") in shipped


def test_bytecode_is_used_without_consulting_the_source(source_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "slim.zip"
    slim(source_zip, out)
    directory = unpack(out, tmp_path / "unpacked")
    # A newer, different source next to the pyc: a timestamp or checked-hash pyc would be
    # stale and the source recompiled; an unchecked-hash pyc is used as is.
    (directory / "chalicelib" / "core.py").write_text('VALUE = "from the source"\n')
    os.utime(directory / "chalicelib" / "core.py", (2_000_000_000, 2_000_000_000))

    done = run_python(directory, "import app; print(app.VALUE)")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the pyc"
    assert not (directory / "__pycache__" / "app.cpython-312.opt-1.pyc").exists()


def test_sourceless_modules_import_and_name_their_lambda_path(
    source_zip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "slim.zip"
    slim(source_zip, out)
    directory = unpack(out, tmp_path / "unpacked")

    done = run_python(
        directory,
        "import lib, lib.testing; print(lib.__file__); print(lib.checked(3)); lib.fails()",
    )

    assert done.stdout.splitlines() == [str(directory / "lib" / "__init__.pyc"), "3"]
    assert f'File "{TASK_ROOT}/lib/__init__.py", line 15, in fails' in done.stderr
    assert "ValueError: boom" in done.stderr


def test_docstring_free_packages_lose_docstrings_but_keep_asserts(
    source_zip: Path, tmp_path: Path
) -> None:
    plain, docless = tmp_path / "plain.zip", tmp_path / "docless.zip"
    slim(source_zip, plain, docstring_free=frozenset())
    slim(source_zip, docless, docstring_free=frozenset({"lib"}))
    code = (
        "import lib\nprint(repr(lib.documented.__doc__), repr(lib.documented()))\n"
        "try:\n    lib.checked(-1)\nexcept AssertionError as e:\n    print(e)\n"
    )

    with_docs = run_python(unpack(plain, tmp_path / "plain"), code)
    without_docs = run_python(unpack(docless, tmp_path / "docless"), code)

    assert with_docs.stdout.splitlines() == [
        "'What the function does.' \"The library's module docstring.\"",
        "asserts stay",
    ]
    assert without_docs.stdout.splitlines() == ["None None", "asserts stay"]


def test_output_is_deterministic(source_zip: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    slim(source_zip, first)
    slim(source_zip, second)

    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} == {0o644}


def test_may_overwrite_its_input(source_zip: Path, tmp_path: Path) -> None:
    expected = tmp_path / "expected.zip"
    slim(source_zip, expected)

    slim(source_zip, source_zip)

    assert source_zip.read_bytes() == expected.read_bytes()


def test_report_counts_what_was_removed_and_what_came_out(source_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "slim.zip"
    report = slim(source_zip, out)
    removed = {r.rule: (r.files, r.bytes) for r in report.removed}

    assert removed["test-suites"] == (len(TEST_SUITE), size_of(TEST_SUITE))
    assert removed["type-stubs"] == (len(STUBS), size_of(STUBS))
    assert removed["build-inputs"] == (len(BUILD_INPUTS), size_of(BUILD_INPUTS))
    assert removed["bytecode-of-the-build"] == (1, size_of(STALE_BYTECODE))
    assert removed["unused-aws-models"] == (1, len("ec2 model") * 100)
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
    assert report.zip_bytes == out.stat().st_size
    assert report.unzipped_bytes == sum(i.file_size for i in infos)
    assert report.files == len(infos)
    assert report.source.unzipped_bytes == size_of(
        {**KEPT, **TEST_SUITE, **STUBS, **BUILD_INPUTS, **SERVICE_MODELS, **STALE_BYTECODE}
    )
    top = dict(report.top_packages)
    assert top["lib"] == sum(i.file_size for i in infos if i.filename.startswith("lib/"))
    assert report.top_packages[0][0] == "lib"  # largest first
    sourceless = ["lib/__init__.py", "lib/testing.py", "lib/sub/__init__.py", "typing_like.py"]
    sourceless += ["botocore/__init__.py"]
    assert report.dropped_sources == len(sourceless)
    assert report.dropped_source_bytes == sum(len(KEPT.get(n, "").encode()) for n in sourceless)
    assert report.within_limit and report.within_target
    assert report.unzipped_bytes < UNZIPPED_TARGET


def test_unused_service_models_follow_the_services_given(source_zip: Path, tmp_path: Path) -> None:
    out = tmp_path / "slim.zip"
    slim(source_zip, out, services=frozenset({"ec2"}))
    shipped = set(names(out))

    assert "botocore/data/ec2/2016-11-15/service-2.json.gz" in shipped
    assert "botocore/data/s3/2006-03-01/service-2.json.gz" not in shipped
    assert "botocore/data/endpoints.json" in shipped


@pytest.mark.skipif(shutil.which("strip") is None, reason="needs binutils' strip")
def test_stripped_extension_module_still_imports(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("markupsafe._speedups")
    if spec is None or spec.origin is None or not spec.origin.endswith(".so"):
        pytest.skip("needs markupsafe's compiled speedups")
    extension = Path(spec.origin)
    source = tmp_path / "deployment.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.write(extension, extension.name)
    out = tmp_path / "slim.zip"

    report = slim(source, out)
    done = run_python(unpack(out, tmp_path / "unpacked"), "import _speedups")

    assert report.stripped_files == 1
    assert report.strip_saved_bytes == extension.stat().st_size - report.unzipped_bytes
    assert done.returncode == 0, done.stderr


def elf_with_load_segment(path: Path, offset: int, address: int) -> Path:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 32, 64)  # program header table right after the header
    struct.pack_into("<HH", header, 54, 56, 1)
    segment = struct.pack("<IIQQ", 1, 5, offset, address) + bytes(56 - 24)
    path.write_bytes(bytes(header) + segment)
    return path


def test_misaligned_load_segments(tmp_path: Path) -> None:
    aligned = elf_with_load_segment(tmp_path / "ok.so", offset=0x15EC068, address=0x15ED068)
    broken = elf_with_load_segment(tmp_path / "bad.so", offset=0x15EC068, address=0x1633000)
    not_elf = tmp_path / "text.so"
    not_elf.write_text("not an ELF file")

    assert not misaligned_load_segments(aligned)
    assert misaligned_load_segments(broken)
    assert not misaligned_load_segments(not_elf)


def test_target_python_must_be_3_12(tmp_path: Path) -> None:
    fake = tmp_path / "python3.11"
    fake.write_text("#!/bin/sh\necho 3.11\n")
    fake.chmod(0o755)

    with pytest.raises(RuntimeError, match=r"not Python 3\.12 \(3\.11\).*pyenv install 3\.12"):
        target_python(str(fake))
    with pytest.raises(RuntimeError, match="not Python 3.12"):
        target_python(str(tmp_path / "missing"))
    assert target_python(sys.executable) == sys.executable


def test_verify_imports_tells_broken_modules_from_absent_libraries(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import helpers.pruned_module\n")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")

    check = verify_imports(tmp_path, sys.executable)

    assert set(check.failures) == {"app"}
    assert "helpers.pruned_module" in check.failures["app"]
    assert not check.ok
    assert check.optional["sklearn"] == "sklearn"  # not packaged at all: not a failure


def test_powertools_event_handler_goes_and_the_parts_the_functions_use_stay() -> None:
    rule = next(r for r in prune_rules() if r.name == "unused-library-parts")

    assert rule.matches(PurePosixPath("aws_lambda_powertools/event_handler/api_gateway.py"))
    for kept in (
        "aws_lambda_powertools/__init__.py",
        "aws_lambda_powertools/logging/logger.py",
        "aws_lambda_powertools/metrics/metrics.py",
        "aws_lambda_powertools/utilities/batch/base.py",
        "aws_lambda_powertools/utilities/data_classes/s3_event.py",
        "aws_lambda_powertools/event_handler.py",  # a file of that name elsewhere is not it
    ):
        assert not rule.matches(PurePosixPath(kept)), kept


def test_every_service_the_functions_make_a_client_for_keeps_its_botocore_model() -> None:
    # A client for a service whose model was pruned fails only on AWS, at its first call.
    import ast

    root = Path(__file__).resolve().parents[2] / "chalicelib"
    services = {"s3", "sts"}  # AwsClients' properties
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                services.add(node.args[0].value)
    assert {"kms", "sqs", "cloudwatch", "firehose"} <= services  # the scan finds them
    assert services <= AWS_SERVICES
