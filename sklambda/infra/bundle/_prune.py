"""What the functions never read, removed from the package: one `PruneRule` a class of files.

- Test suites are the `tests` and `test` directories and conftest.py files. `testing`
  modules stay: pandas imports pandas._testing when it is imported, scikit-learn's
  estimator_checks imports numpy.testing.
- boto3 and botocore are bundled (requirements.txt pins the versions the tests run with):
  the app needs S3 conditional writes, and /var/task comes before the runtime's SDK on
  sys.path. Their cost after trimming: 5.4 MiB. botocore/data keeps the top-level files
  (endpoints, partitions, retry and default configuration) and the models of AWS_SERVICES
  only: 19.9 → 3.4 MiB. A client for another service raises UnknownServiceError: add its
  name to AWS_SERVICES.
- Powertools' event handler (API Gateway, AppSync and Bedrock resolvers, OpenAPI): the
  functions route through Chalice and use Powertools for logs, metrics, the SQS batch
  processor and event data classes only. 2.2 MiB of sources; nothing the functions import
  reaches it (the import sweep imports every function's entry module from the slim package).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sklambda.infra.bundle._archive import tree_files

# The services whose botocore models stay: what the functions create clients for (S3, SQS,
# CloudWatch, Firehose in chalicelib/services.py, STS for the caller's identity, KMS for the
# registry's signing key), and logs. tests/infra/test_bundle.py reads chalicelib for them.
AWS_SERVICES = frozenset({"s3", "sqs", "cloudwatch", "firehose", "sts", "logs", "kms"})
_BUILD_INPUT_SUFFIXES = frozenset(
    {".c", ".cc", ".cpp", ".h", ".hpp", ".pyx", ".pxd", ".pxi", ".tp", ".f", ".f90", ".pyf", ".a"}
)
_TEST_SUITE_DIRS = frozenset({"tests", "test"})
UNUSED_LIBRARY_PARTS = (PurePosixPath("aws_lambda_powertools/event_handler"),)


@dataclass(frozen=True)
class PruneRule:
    """A class of files the functions never read, removed from the package."""

    name: str
    why: str
    matches: Callable[[PurePosixPath], bool]


@dataclass(frozen=True)
class Removal:
    """What one rule removed."""

    rule: str
    files: int
    bytes: int


def _in_test_suite(path: PurePosixPath) -> bool:
    # `tests`/`test` directories are the libraries' own test suites; `testing` modules
    # (numpy.testing, pandas._testing) are imported by library code and stay.
    return any(part in _TEST_SUITE_DIRS for part in path.parts[1:-1]) or path.name == "conftest.py"


def _is_type_stub(path: PurePosixPath) -> bool:
    return path.suffix == ".pyi" or path.name == "py.typed"


def _is_build_input(path: PurePosixPath) -> bool:
    return path.suffix in _BUILD_INPUT_SUFFIXES or path.name in {"meson.build", "numpy.pc"}


def _is_prebuilt_bytecode(path: PurePosixPath) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def _unused_library_part(path: PurePosixPath) -> bool:
    return any(path.is_relative_to(part) for part in UNUSED_LIBRARY_PARTS)


def _unused_service_model(services: frozenset[str]) -> Callable[[PurePosixPath], bool]:
    def matches(path: PurePosixPath) -> bool:
        parts = path.parts
        in_models = parts[:2] in {("botocore", "data"), ("boto3", "data")}
        # Top-level files (endpoints.json, partitions.json, _retry.json, ...) serve every
        # service; a directory below data/ is one service's models.
        return in_models and len(parts) > 3 and parts[2] not in services

    return matches


def prune_rules(services: frozenset[str] = AWS_SERVICES) -> tuple[PruneRule, ...]:
    """The rules `slim_package` applies, in the order a file is tested against them."""
    return (
        PruneRule(
            "bytecode-of-the-build",
            "__pycache__ written by the machine that ran chalice package, recompiled here",
            _is_prebuilt_bytecode,
        ),
        PruneRule("test-suites", "tests/, test/ and conftest.py of the libraries", _in_test_suite),
        PruneRule("type-stubs", ".pyi and py.typed, read by type checkers only", _is_type_stub),
        PruneRule(
            "build-inputs",
            "C/C++/Cython/Fortran sources, headers, static libraries, meson files",
            _is_build_input,
        ),
        PruneRule(
            "unused-aws-models",
            f"botocore/boto3 data of services other than {', '.join(sorted(services))}",
            _unused_service_model(services),
        ),
        PruneRule(
            "unused-library-parts",
            "Powertools' event handler: the functions route through Chalice",
            _unused_library_part,
        ),
    )


def prune(root: Path, rules: Iterable[PruneRule]) -> tuple[Removal, ...]:
    """Delete every file under `root` a rule matches (the first one counts it)."""
    rules = tuple(rules)
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for path, relative in list(tree_files(root)):
        rule = next((r for r in rules if r.matches(relative)), None)
        if rule is None:
            continue
        files[rule.name] += 1
        sizes[rule.name] += path.stat().st_size
        path.unlink()
    _remove_empty_directories(root)
    return tuple(Removal(r.name, files[r.name], sizes[r.name]) for r in rules)


def _remove_empty_directories(root: Path) -> None:
    for directory, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        if directory != str(root) and not os.listdir(directory):
            os.rmdir(directory)
