"""Python 3.12 bytecode for every module, compiled by the runtime's interpreter.

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
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sklambda.infra.bundle._archive import tree_files

# The Lambda runtime's Python: bytecode is compiled for it, and Chalice packages for it.
TARGET_PYTHON = (3, 12)
# Where Lambda unpacks the code; recorded in the bytecode so tracebacks name the real files.
TASK_ROOT = "/var/task"
# Shipped with sources next to their bytecode: they are in every traceback worth reading.
FIRST_PARTY = frozenset({"app.py", "chalicelib", "chalice"})
# SciPy parses the numpydoc docstrings of hundreds of functions while importing (its
# xp_capabilities decorator appends a note to each): a fifth to a quarter of a cold start.
# Without docstrings there is nothing to parse.
DOCSTRING_FREE = frozenset({"scipy"})


@dataclass(frozen=True)
class Bytecode:
    """What `compile_bytecode` wrote and removed."""

    pyc_files: int
    pyc_bytes: int
    dropped_sources: int
    dropped_source_bytes: int
    warnings: tuple[str, ...]


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
    for path, relative in sorted(tree_files(root)):
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
