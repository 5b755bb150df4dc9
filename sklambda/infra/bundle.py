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

What was decided, and why:
- Third-party modules ship as bytecode alone, in the legacy layout (module.pyc where
  module.py was: the import system ignores __pycache__ without a source). With their sources
  kept beside the bytecode the package is 228.9 MiB: under the limit, over the target.
  Tracebacks still name file and line (recorded as /var/task/..., where Lambda unpacks the
  code), without the line's text. app.py, chalicelib and Chalice's runtime keep their
  sources, bytecode in __pycache__: tracebacks through them show the code.
- Bytecode is unchecked-hash (PEP 552): used without looking at the source. A zip stores
  mtimes at 2-second resolution, so timestamp pycs would be stale after unpacking, and on
  Lambda's read-only /var/task every cold start would recompile every module: that is most
  of the cold start from Chalice's zip (4.1 to 5.2 s against 1.2 to 1.5 s slimmed, medians
  of bench_package.py runs).
- Test suites are the `tests` and `test` directories and conftest.py files. `testing`
  modules stay: pandas imports pandas._testing when it is imported, scikit-learn's
  estimator_checks imports numpy.testing.
- `strip --strip-unneeded` on every shared object, except where the loader would refuse the
  stripped copy: scipy.libs' OpenBLAS and libgfortran, which auditwheel's patchelf edited,
  come out of strip with a load segment off page alignment ("ELF load command address/offset
  not page-aligned" on import). Each stripped file is checked; 2.0 MiB kept for those two.
- SciPy's bytecode has no docstrings (compiled from a syntax tree without them; asserts stay,
  unlike -OO): importing scipy.stats, which scikit-learn always does, parses the numpydoc
  docstrings of hundreds of functions to append a note to each: the cold start's median went
  from 1.62 s to 1.19 s (bench_package.py --with-docstrings on a quiet machine; 1.92 s to
  1.54 s on a busier one). verify_imports imports every
  public SciPy module from the result, and SciPy's own tests (stats distributions, continuous
  and discrete basics, morestats; linalg, special, _lib: 13,521 passed) give the same results
  with and without docstrings. Also 5.4 MiB smaller. Not for every package: numpy.ma asserts
  on numpy's docstrings while importing; without docstrings anywhere but numpy the gain over
  SciPy alone was within this machine's noise.
- boto3 and botocore are bundled (requirements.txt pins the versions the tests run with):
  the app needs S3 conditional writes, and /var/task comes before the runtime's SDK on
  sys.path. Their cost after trimming: 5.4 MiB. botocore/data keeps the top-level files
  (endpoints, partitions, retry and default configuration) and the models of AWS_SERVICES
  only: 19.9 → 3.4 MiB. A client for another service raises UnknownServiceError: add its
  name to AWS_SERVICES.
- The zip is deterministic: sorted entries, 1980-01-01 timestamps, modes 644 (755 for
  executables), deflate level 6; the same input gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MIB = 1024 * 1024
# Lambda rejects function code + layers above 262,144,000 bytes unzipped ("250 MB").
LAMBDA_UNZIPPED_LIMIT = 250 * MIB
UNZIPPED_TARGET = 200 * MIB
TARGET_PYTHON = (3, 12)
# Where Lambda unpacks the code; recorded in the bytecode so tracebacks name the real files.
TASK_ROOT = "/var/task"
# Shipped with sources next to their bytecode: they are in every traceback worth reading.
FIRST_PARTY = frozenset({"app.py", "chalicelib", "chalice"})
# The services whose botocore models stay: what the functions create clients for (S3, SQS,
# CloudWatch, Firehose in chalicelib/services.py, STS for the caller's identity), and logs.
AWS_SERVICES = frozenset({"s3", "sqs", "cloudwatch", "firehose", "sts", "logs"})
# SciPy parses the numpydoc docstrings of hundreds of functions while importing (its
# xp_capabilities decorator appends a note to each): a fifth to a quarter of a cold start.
# Without docstrings there is nothing to parse.
DOCSTRING_FREE = frozenset({"scipy"})
# Entries carry a fixed time so the same input gives the same bytes (zip's epoch).
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_COMPRESSLEVEL = 6
TOP_PACKAGES = 15

_SHARED_OBJECT_MARK = ".so"
_BUILD_INPUT_SUFFIXES = frozenset(
    {".c", ".cc", ".cpp", ".h", ".hpp", ".pyx", ".pxd", ".pxi", ".tp", ".f", ".f90", ".pyf", ".a"}
)
_TEST_SUITE_DIRS = frozenset({"tests", "test"})


@dataclass(frozen=True)
class PruneRule:
    """A class of files the functions never read, removed from the package."""

    name: str
    why: str
    matches: Callable[[PurePosixPath], bool]


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
    )


@dataclass(frozen=True)
class Removal:
    """What one rule removed."""

    rule: str
    files: int
    bytes: int


@dataclass(frozen=True)
class PackageSize:
    """Sizes of a deployment zip as Lambda counts them."""

    zip_bytes: int
    unzipped_bytes: int
    files: int
    by_top_level: tuple[tuple[str, int], ...]

    @property
    def within_limit(self) -> bool:
        return self.unzipped_bytes <= LAMBDA_UNZIPPED_LIMIT

    @property
    def within_target(self) -> bool:
        return self.unzipped_bytes <= UNZIPPED_TARGET

    def top(self, count: int = TOP_PACKAGES) -> tuple[tuple[str, int], ...]:
        return self.by_top_level[:count]


@dataclass(frozen=True)
class BundleReport:
    """What `slim_package` wrote (sizes as Lambda counts them) and what it did."""

    zip_bytes: int
    unzipped_bytes: int
    files: int
    # The largest top-level entries (package, module or .libs directory): unzipped bytes.
    top_packages: tuple[tuple[str, int], ...]
    removed: tuple[Removal, ...]
    stripped_files: int
    strip_saved_bytes: int
    bytecode_files: int
    bytecode_bytes: int
    dropped_sources: int
    dropped_source_bytes: int
    source: PackageSize  # Chalice's zip
    warnings: tuple[str, ...] = field(default=())

    @property
    def within_limit(self) -> bool:
        return self.unzipped_bytes <= LAMBDA_UNZIPPED_LIMIT

    @property
    def within_target(self) -> bool:
        return self.unzipped_bytes <= UNZIPPED_TARGET

    def lines(self) -> list[str]:
        """A human-readable summary."""
        verdict = "PASS" if self.within_target else "FAIL"
        out = [
            f"unzipped {_mib(self.source.unzipped_bytes)} -> {_mib(self.unzipped_bytes)}"
            f" (limit {_mib(LAMBDA_UNZIPPED_LIMIT)}, target {_mib(UNZIPPED_TARGET)}: {verdict});"
            f" zip {_mib(self.source.zip_bytes)} -> {_mib(self.zip_bytes)}",
        ]
        for removal in self.removed:
            out.append(f"  removed {removal.rule}: {removal.files} files, {_mib(removal.bytes)}")
        out.append(
            f"  stripped {self.stripped_files} shared objects: -{_mib(self.strip_saved_bytes)}"
        )
        out.append(
            f"  bytecode: {self.bytecode_files} .pyc, +{_mib(self.bytecode_bytes)};"
            f" third-party sources dropped: {self.dropped_sources} files,"
            f" -{_mib(self.dropped_source_bytes)}"
        )
        out.extend(f"  warning: {warning}" for warning in self.warnings)
        return out


def _mib(count: int) -> str:
    return f"{count / MIB:.1f} MiB"


def measure_zip(path: Path) -> PackageSize:
    """Zip size, unzipped size (the sum Lambda checks) and bytes per top-level entry."""
    by_top: Counter[str] = Counter()
    files = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            files += 1
            by_top[info.filename.split("/", 1)[0]] += info.file_size
    return PackageSize(
        zip_bytes=path.stat().st_size,
        unzipped_bytes=sum(by_top.values()),
        files=files,
        by_top_level=tuple(by_top.most_common()),
    )


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
        modes = _extract(source_zip, root)
        removed = _prune(root, prune_rules(services))
        stripped, strip_saved, strip_warnings = strip_shared_objects(root)
        compiled = compile_bytecode(
            root, interpreter, keep_sources=keep_sources, docstring_free=docstring_free
        )
        _write_zip(root, dest_zip, modes)
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


def target_python(python: str | None) -> str:
    """The interpreter to compile with; it must be the runtime's Python 3.12."""
    wanted = ".".join(map(str, TARGET_PYTHON))
    how = (
        f"pass python= the path of a python{wanted} (e.g. `pyenv install {wanted}` then"
        f" `PYENV_VERSION={wanted} pyenv which python{wanted}`, or `uv python find {wanted}`)"
    )
    if python is None:
        if sys.version_info[:2] != TARGET_PYTHON:
            raise RuntimeError(
                f"bytecode must be compiled by Python {wanted}, the Lambda runtime's; this is"
                f" {sys.version_info.major}.{sys.version_info.minor}: {how}"
            )
        return sys.executable
    try:
        found = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError as error:
        found = str(error)
    if found != wanted:
        raise RuntimeError(f"{python} is not Python {wanted} ({found or 'no version'}): {how}")
    return python


def _extract(source_zip: Path, root: Path) -> dict[str, int]:
    """Unpack `source_zip` into `root`; return the Unix mode to ship each file with."""
    modes: dict[str, int] = {}
    with zipfile.ZipFile(source_zip) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            archive.extract(info, root)
            executable = (info.external_attr >> 16) & 0o111
            # Lambda's runtime user must be able to read everything (and run executables).
            modes[info.filename] = 0o755 if executable else 0o644
    return modes


def _files(root: Path) -> Iterator[tuple[Path, PurePosixPath]]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            yield path, PurePosixPath(path.relative_to(root).as_posix())


def _prune(root: Path, rules: Iterable[PruneRule]) -> tuple[Removal, ...]:
    rules = tuple(rules)
    files: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for path, relative in list(_files(root)):
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


def _is_shared_object(path: Path) -> bool:
    # numpy/_core/_x.cpython-312-x86_64-linux-gnu.so, scipy.libs/libgfortran-....so.5.0.0
    return path.name.endswith(_SHARED_OBJECT_MARK) or f"{_SHARED_OBJECT_MARK}." in path.name


def strip_shared_objects(root: Path) -> tuple[int, int, list[str]]:
    """`strip --strip-unneeded` every shared object: (files stripped, bytes saved, warnings).

    Only debug and local symbols go; the dynamic symbol table that loading and linking use
    stays. A file whose stripped copy would not load (see `misaligned_load_segments`) is kept
    as it was. Without a `strip` binary nothing happens and the warning says so.
    """
    strip = shutil.which("strip")
    if strip is None:
        return 0, 0, ["`strip` not found (binutils): shared objects keep their debug symbols"]
    stripped, saved, warnings = 0, 0, []
    for path, relative in sorted(_files(root)):
        if not _is_shared_object(path):
            continue
        before = path.stat().st_size
        problem = _strip_one(strip, path)
        if problem:
            warnings.append(f"kept unstripped {relative}: {problem}")
            continue
        stripped += 1
        saved += before - path.stat().st_size
    return stripped, saved, warnings


def _strip_one(strip: str, path: Path) -> str | None:
    """Strip `path` in place unless that fails or would break loading; why not, or None."""
    candidate = path.with_name(path.name + ".stripped")
    done = subprocess.run(
        [strip, "--strip-unneeded", "-o", str(candidate), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        candidate.unlink(missing_ok=True)
        return f"strip failed: {done.stderr.strip()[:200]}"
    if misaligned_load_segments(candidate) and not misaligned_load_segments(path):
        candidate.unlink()
        return "its stripped copy has a load segment off page alignment (patchelf-edited)"
    candidate.replace(path)
    return None


_PAGE_SIZE = 4096
_PT_LOAD = 1


def misaligned_load_segments(path: Path) -> bool:
    """Whether a 64-bit little-endian ELF has a PT_LOAD whose address and file offset differ
    modulo the page size, which the dynamic loader refuses ("ELF load command address/offset
    not page-aligned"). `strip` produces that from some libraries that auditwheel's patchelf
    rewrote (scipy.libs' OpenBLAS and libgfortran).
    """
    with path.open("rb") as elf:
        header = elf.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4:6] != b"\x02\x01":
            return False
        (table_offset,) = struct.unpack_from("<Q", header, 32)
        entry_size, entries = struct.unpack_from("<HH", header, 54)
        elf.seek(table_offset)
        table = elf.read(entry_size * entries)
    for index in range(entries):
        kind, _, offset, address = struct.unpack_from("<IIQQ", table, index * entry_size)
        if kind == _PT_LOAD and (address - offset) % _PAGE_SIZE:
            return True
    return False


@dataclass(frozen=True)
class Bytecode:
    """What `compile_bytecode` wrote and removed."""

    pyc_files: int
    pyc_bytes: int
    dropped_sources: int
    dropped_source_bytes: int
    warnings: tuple[str, ...]


# Run by the target interpreter. Unchecked-hash pycs are used without reading or stat-ing
# the source, so the zip's 2-second mtimes cannot make them stale; sourceless modules need
# the legacy layout (module.pyc beside where module.py was), the import system ignores
# __pycache__ without a source. The recorded file names point at /var/task. Packages named
# in "docstring_free" are then recompiled from a syntax tree without docstrings (asserts
# stay, unlike -OO), into the same unchecked-hash format (PEP 552: magic, flags=1, hash).
_COMPILE = r"""
import ast, compileall, importlib.util, json, marshal, os, sys
from py_compile import PycInvalidationMode

job = json.load(sys.stdin)
for target, legacy in job["targets"]:
    options = dict(
        stripdir=job["root"], prependdir=job["task_root"], legacy=legacy, quiet=1, optimize=0,
        invalidation_mode=PycInvalidationMode.UNCHECKED_HASH,
    )
    if target.endswith(".py"):
        compileall.compile_file(target, **options)
    else:
        compileall.compile_dir(target, workers=job["workers"], **options)


class WithoutDocstrings(ast.NodeTransformer):
    def drop_docstring(self, node):
        self.generic_visit(node)
        first = node.body[0] if node.body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            node.body = node.body[1:] or [ast.copy_location(ast.Pass(), first)]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = drop_docstring


def compile_without_docstrings(source_path, cfile, dfile):
    with open(source_path, "rb") as source_file:
        source = source_file.read()
    tree = WithoutDocstrings().visit(ast.parse(source, filename=dfile))
    code = compile(tree, dfile, "exec", dont_inherit=True, optimize=0)
    header = importlib.util.MAGIC_NUMBER + (1).to_bytes(4, "little")
    with open(cfile, "wb") as out:
        out.write(header + importlib.util.source_hash(source) + marshal.dumps(code))


for package in job["docstring_free"]:
    top = os.path.join(job["root"], package)
    for directory, _, names in sorted(os.walk(top)):
        for name in sorted(names):
            path = os.path.join(directory, name)
            if name.endswith(".py") and os.path.exists(path + "c"):
                dfile = job["task_root"] + path[len(job["root"]):]
                compile_without_docstrings(path, path + "c", dfile)
"""


def compile_bytecode(
    root: Path,
    python: str,
    *,
    keep_sources: frozenset[str] = FIRST_PARTY,
    docstring_free: frozenset[str] = DOCSTRING_FREE,
) -> Bytecode:
    """Compile every module under `root` to unchecked-hash bytecode with `python`.

    Entries named in `keep_sources` keep their .py files with the bytecode in __pycache__;
    every other module is replaced by a .pyc in its place. Bytecode of the (sourceless)
    packages in `docstring_free` has no docstrings. A source that does not compile (if any:
    a template, Python 2 syntax) is left as it was and named in the warnings.
    """
    targets = [
        (str(entry), entry.name not in keep_sources)
        for entry in sorted(root.iterdir())
        if not _is_metadata(entry.name) and (entry.is_dir() or entry.suffix == ".py")
    ]
    job = {
        "root": str(root),
        "task_root": TASK_ROOT,
        "targets": targets,
        "docstring_free": sorted(docstring_free - keep_sources),
        "workers": os.cpu_count() or 1,
    }
    done = subprocess.run(
        [python, "-I", "-c", _COMPILE],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiling bytecode failed: {done.stderr.strip()[-2000:]}")
    return _drop_compiled_sources(root, keep_sources)


def _is_metadata(top_level: str) -> bool:
    return top_level.endswith((".dist-info", ".data"))


def _cached_bytecode(source: Path) -> Path:
    tag = "cpython-{}{}".format(*TARGET_PYTHON)
    return source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"


def _drop_compiled_sources(root: Path, keep_sources: frozenset[str]) -> Bytecode:
    pyc_files = pyc_bytes = dropped = dropped_bytes = 0
    uncompiled: list[str] = []
    for path, relative in sorted(_files(root)):
        if path.suffix == ".pyc":
            pyc_files += 1
            pyc_bytes += path.stat().st_size
        elif path.suffix != ".py" or _is_metadata(relative.parts[0]):
            continue
        elif relative.parts[0] in keep_sources:
            if not _cached_bytecode(path).exists():
                uncompiled.append(str(relative))
        elif path.with_suffix(".pyc").exists():
            dropped += 1
            dropped_bytes += path.stat().st_size
            path.unlink()
        else:
            uncompiled.append(str(relative))
    warnings = tuple(f"not compiled, shipped as source: {name}" for name in uncompiled)
    return Bytecode(pyc_files, pyc_bytes, dropped, dropped_bytes, warnings)


def _write_zip(root: Path, dest_zip: Path, modes: dict[str, int]) -> None:
    """A deterministic zip: sorted names, fixed timestamps and modes, deflate."""
    entries = sorted((relative.as_posix(), path) for path, relative in _files(root))
    partial = dest_zip.with_name(dest_zip.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = 3  # Unix, so the mode below is honoured when unpacking
            info.external_attr = (stat.S_IFREG | modes.get(name, 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=ZIP_COMPRESSLEVEL)
    partial.replace(dest_zip)


# Packages whose public modules are all imported: pruning must not break scikit-learn, and
# SciPy's bytecode has no docstrings, which none of its modules may rely on at import.
SWEPT_PACKAGES = ("sklearn", "scipy")
# Imported as such: the functions' entry point and what they import lazily.
REQUIRED_MODULES = (
    "app",
    "chalicelib.services",
    "chalicelib.batch._jobs",
    "chalicelib.monitoring._monitor",
    "chalicelib.rollout._retraining",
    "pandas",
    "fastparquet",
    "boto3",
)

# Run with `python -S` and the package directory alone on PYTHONPATH. Besides importing, it
# runs each library's compiled code once (BLAS, LAPACK, OpenMP, Parquet codecs), which is
# what stripping the shared objects could have broken, and builds a client per AWS service.
_SWEEP = r"""
import importlib, importlib.util, json, pkgutil, sys, tempfile, warnings
warnings.simplefilter("ignore")
job = json.loads(sys.argv[1])
failures, imported, optional = {}, [], {}


def attempt(name, action):
    try:
        action()
    except ModuleNotFoundError as exc:
        # A library the package never had (cupy, torch for array_api_compat) is optional.
        top = (exc.name or "").split(".")[0]
        if top and importlib.util.find_spec(top) is None:
            optional[name] = top
        else:
            failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        return False
    except BaseException as exc:
        failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        return False
    imported.append(name)
    return True


def public(name):
    return not any(p.startswith("_") or p in ("tests", "test") for p in name.split("."))


def sweep(package):
    module = sys.modules[package]
    for info in pkgutil.iter_modules(module.__path__, package + "."):
        if public(info.name) and attempt(info.name, lambda: importlib.import_module(info.name)):
            if info.ispkg:
                sweep(info.name)


for name in job["modules"]:
    attempt(name, lambda: importlib.import_module(name))
for package in job["packages"]:
    if attempt(package, lambda: importlib.import_module(package)):
        sweep(package)


def numerics():
    import numpy as np, scipy.linalg, scipy.optimize, scipy.sparse, scipy.sparse.linalg
    import scipy.special, scipy.stats
    rng = np.random.default_rng(0)
    a = rng.random((60, 60)) + 60 * np.eye(60)
    np.linalg.solve(a, np.ones(60)); np.linalg.svd(a)
    scipy.linalg.lu_factor(a); scipy.special.expit(a)
    scipy.sparse.linalg.spsolve(scipy.sparse.csc_matrix(a), np.ones(60))
    scipy.optimize.minimize(lambda v: ((v - 1) ** 2).sum(), np.zeros(3), method="L-BFGS-B")
    scipy.stats.norm(0, 1).ppf(0.9); scipy.stats.poisson.pmf(2, 3); scipy.stats.ks_2samp(a[0], a[1])


def estimators():
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    x = np.random.default_rng(0).random((400, 5)); y = x[:, 0] > 0.5
    HistGradientBoostingClassifier(max_iter=5).fit(x, y).predict_proba(x)
    LogisticRegression().fit(x, y).predict_proba(x)


def parquet():
    import pandas as pd, fastparquet
    frame = pd.DataFrame({"a": range(100), "b": ["x", "y"] * 50})
    frame.groupby("b")["a"].sum()
    with tempfile.TemporaryDirectory() as scratch:
        for codec in ("SNAPPY", "ZSTD", "GZIP"):
            fastparquet.write(f"{scratch}/{codec}.parquet", frame, compression=codec)
            fastparquet.ParquetFile(f"{scratch}/{codec}.parquet").to_pandas()


def aws_clients():
    import boto3
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )
    for service in job["services"]:
        session.client(service)


for name, check in (("numerics", numerics), ("estimators", estimators),
                    ("parquet", parquet), ("aws-clients", aws_clients)):
    attempt(f"[{name}]", check)
print(json.dumps({"imported": len(imported), "failures": failures, "optional": optional}))
"""


@dataclass(frozen=True)
class ImportCheck:
    """The outcome of `verify_imports`: how many imports and checks passed, what failed,
    and which modules need a library the package does not include (not failures)."""

    imported: int
    failures: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_imports(
    directory: Path, python: str, *, services: frozenset[str] = AWS_SERVICES
) -> ImportCheck:
    """Import the app and every public scikit-learn module from an unpacked package.

    A fresh `python -S` sees the standard library and `directory` only, and writes no
    bytecode, as on Lambda. Also runs each native library once and creates a client for
    each of `services`. Failures are keyed by module (or `[check]`) with the error.
    """
    job = {
        "modules": list(REQUIRED_MODULES),
        "packages": list(SWEPT_PACKAGES),
        "services": sorted(services),
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(directory),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SKLAMBDA_API_AUTH": "none",
    }
    done = subprocess.run(
        [python, "-S", "-c", _SWEEP, json.dumps(job)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        return ImportCheck(0, {"[interpreter]": done.stderr.strip()[-2000:]})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return ImportCheck(result["imported"], result["failures"], result["optional"])


def verify_zip(zip_path: Path, python: str) -> ImportCheck:
    """`verify_imports` on a deployment zip, unpacked into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="sklambda-verify-") as scratch:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(scratch)
        return verify_imports(Path(scratch), python)
