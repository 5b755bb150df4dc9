"""`slim_package`: Chalice's zip unpacked, pruned, stripped, compiled and packed again."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sklambda.infra.bundle._archive import extract, write_zip
from sklambda.infra.bundle._bytecode import (
    DOCSTRING_FREE,
    FIRST_PARTY,
    compile_bytecode,
    target_python,
)
from sklambda.infra.bundle._prune import AWS_SERVICES, prune, prune_rules
from sklambda.infra.bundle._report import BundleReport, measure_zip
from sklambda.infra.bundle._strip import strip_shared_objects


def slim_package(
    source_zip: Path,
    dest_zip: Path,
    *,
    python: str | None = None,
    services: frozenset[str] = AWS_SERVICES,
    keep_sources: frozenset[str] = FIRST_PARTY,
    docstring_free: frozenset[str] = DOCSTRING_FREE,
) -> BundleReport:
    """Write a slimmed copy of Chalice's `source_zip` to `dest_zip` (may be the same path).

    `python` is a Python 3.12 interpreter that compiles the bytecode (default: this one, if
    it is 3.12). `services` are the AWS services whose botocore models stay; top-level
    entries named in `keep_sources` keep their .py files, every other module ships as
    bytecode alone; the bytecode of the packages in `docstring_free` has no docstrings.
    """
    interpreter = target_python(python)
    source = measure_zip(source_zip)
    with tempfile.TemporaryDirectory(prefix="sklambda-bundle-") as scratch:
        root = Path(scratch)
        modes = extract(source_zip, root)
        removed = prune(root, prune_rules(services))
        stripped, strip_saved, strip_warnings = strip_shared_objects(root)
        compiled = compile_bytecode(
            root, interpreter, keep_sources=keep_sources, docstring_free=docstring_free
        )
        write_zip(root, dest_zip, modes)
    result = measure_zip(dest_zip)
    return BundleReport(
        zip_bytes=result.zip_bytes,
        unzipped_bytes=result.unzipped_bytes,
        files=result.files,
        top_packages=result.top(),
        removed=removed,
        stripped_files=stripped,
        strip_saved_bytes=strip_saved,
        bytecode_files=compiled.pyc_files,
        bytecode_bytes=compiled.pyc_bytes,
        dropped_sources=compiled.dropped_sources,
        dropped_source_bytes=compiled.dropped_source_bytes,
        source=source,
        warnings=tuple(strip_warnings) + compiled.warnings,
    )
