"""Slim Chalice's deployment.zip: drop what the functions never read, strip shared objects,
ship Python 3.12 bytecode. Pure post-processing of the zip, no AWS calls.

    out = Path("build")    # after `chalice package --stage prod ... build`
    report = slim_package(out / "deployment.zip", out / "deployment.zip", python=python312)
    check = verify_zip(out / "deployment.zip", python312)   # imports everything; check.ok

Overwriting in place keeps sam.json's CodeUri valid. Sizes are MiB as Lambda counts them
(the sum of the file sizes; its limit for code + layers is 262,144,000 bytes = 250 MiB).
bench/bench_package.py measured, for the prod stage: Chalice's zip 272.0 MiB unzipped
(91.5 zipped) → 188.7 MiB (67.2), target 200. Removed: test suites 43.5, botocore/boto3
models of services the functions do not call 17.1, debug symbols of shared objects 14.8,
C/Cython/Fortran sources, headers and static libraries 5.5, type stubs 1.5, the build
machine's __pycache__ 0.2; third-party sources replaced by their bytecode: -40.2 +39.5.

One module a step, each saying what was decided and why: `_archive` (unpack, and pack a
deterministic zip), `_prune` (the rules for what is removed), `_strip` (debug symbols),
`_bytecode` (unchecked-hash bytecode, sources dropped, SciPy without docstrings), `_slim`
(the steps in order), `_report` (sizes), `_verify` (the import sweep on the result).
"""

from sklambda.infra.bundle._archive import ZIP_COMPRESSLEVEL, ZIP_TIMESTAMP
from sklambda.infra.bundle._bytecode import (
    DOCSTRING_FREE,
    FIRST_PARTY,
    TARGET_PYTHON,
    TASK_ROOT,
    Bytecode,
    compile_bytecode,
    target_python,
)
from sklambda.infra.bundle._prune import AWS_SERVICES, PruneRule, Removal, prune_rules
from sklambda.infra.bundle._report import (
    LAMBDA_UNZIPPED_LIMIT,
    MIB,
    TOP_PACKAGES,
    UNZIPPED_TARGET,
    BundleReport,
    PackageSize,
    measure_zip,
)
from sklambda.infra.bundle._slim import slim_package
from sklambda.infra.bundle._strip import misaligned_load_segments, strip_shared_objects
from sklambda.infra.bundle._verify import (
    REQUIRED_MODULES,
    SWEPT_PACKAGES,
    ImportCheck,
    verify_imports,
    verify_zip,
)

__all__ = [
    "AWS_SERVICES",
    "DOCSTRING_FREE",
    "FIRST_PARTY",
    "LAMBDA_UNZIPPED_LIMIT",
    "MIB",
    "REQUIRED_MODULES",
    "SWEPT_PACKAGES",
    "TARGET_PYTHON",
    "TASK_ROOT",
    "TOP_PACKAGES",
    "UNZIPPED_TARGET",
    "ZIP_COMPRESSLEVEL",
    "ZIP_TIMESTAMP",
    "BundleReport",
    "Bytecode",
    "ImportCheck",
    "PackageSize",
    "PruneRule",
    "Removal",
    "compile_bytecode",
    "measure_zip",
    "misaligned_load_segments",
    "prune_rules",
    "slim_package",
    "strip_shared_objects",
    "target_python",
    "verify_imports",
    "verify_zip",
]
