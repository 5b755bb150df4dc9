"""A version's own code: the user's modules and packages as one deterministic zip.

The zip holds the modules at its root (`features.py`, `mypkg/__init__.py`, ...), .py files
only, in sorted order with fixed timestamps and modes, so the same sources always give the
same bytes and the same sha256. Lambda imports it with zipimport (see _user_code.py).
"""

from __future__ import annotations

import hashlib
import io
import keyword
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chalicelib.core import InvalidInputError
from chalicelib.registry._metadata import CodeInfo
from chalicelib.registry._runtime_modules import in_runtime

CODE_FILE = "code.zip"
MAX_CODE_BYTES = 5 * 1000 * 1000  # own modules are small; more means data or libraries
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can record


@dataclass(frozen=True)
class CodeArchive:
    """The zipped code of a version and what metadata.json records about it."""

    data: bytes
    info: CodeInfo

    @property
    def modules(self) -> tuple[str, ...]:
        """Top-level module names the archive provides."""
        return tuple(self.info["modules"])


def build_code_archive(paths: Iterable[str | os.PathLike[str]]) -> CodeArchive:
    """Zip module files (x.py) and package directories (with __init__.py) for a version."""
    files: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    total = 0
    for given in paths:
        module, entries = _collect(Path(given), str(given))
        if module in origin:
            raise InvalidInputError(
                f"code paths {origin[module]!r} and {str(given)!r} are both the module "
                f"{module!r}; pass each module once"
            )
        origin[module] = str(given)
        files.update(entries)
        total += sum(len(body) for body in entries.values())
        if total > MAX_CODE_BYTES:
            raise InvalidInputError(
                f"the code given is over the {MAX_CODE_BYTES / 1e6:g} MB limit for a version's "
                "code; pass only your own Python modules (data belongs in S3, libraries in "
                "requirements.txt)"
            )
    if not origin:
        raise InvalidInputError("no code paths given; pass module files or package directories")
    data = _zip(files)
    return CodeArchive(
        data,
        {
            "file": CODE_FILE,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
            "modules": sorted(origin),
            "files": {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)},
        },
    )


def _collect(path: Path, given: str) -> tuple[str, dict[str, bytes]]:
    """(module name, archive path -> bytes) of one module file or package directory."""
    if path.is_file() and path.suffix == ".py":
        name = path.stem
        _check_name(name, given)
        return name, {f"{name}.py": path.read_bytes()}
    if path.is_dir() and (path / "__init__.py").is_file():
        name = path.resolve().name
        _check_name(name, given)
        entries = {}
        for file in sorted(path.rglob("*.py")):
            inside = file.relative_to(path)
            if any(part == "__pycache__" or part.startswith(".") for part in inside.parts):
                continue
            entries[f"{name}/{inside.as_posix()}"] = file.read_bytes()
        return name, entries
    if not path.exists():
        raise InvalidInputError(
            f"code path {given!r} does not exist; pass a module file (features.py) or a "
            "package directory (with __init__.py)"
        )
    raise InvalidInputError(
        f"code path {given!r} is neither a module file (.py) nor a package directory with "
        "__init__.py; pass one of those"
    )


def _check_name(name: str, given: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        suggestion = re.sub(r"\W", "_", name)
        suggestion = f"m_{suggestion}" if suggestion[:1].isdigit() else suggestion
        raise InvalidInputError(
            f"code path {given!r}: {name!r} is not a valid module name, so Python cannot import "
            f"it; rename it to letters, digits and underscores (e.g. {suggestion!r})"
        )
    if in_runtime(name) or name == "__main__":
        raise InvalidInputError(
            f"code path {given!r}: the module name {name!r} is taken by the Lambda runtime "
            "(the standard library, scikit-learn, numpy, pandas, ... or chalicelib); rename "
            "your module"
        )


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.create_system = 3  # unix, wherever it was built
            entry.external_attr = 0o644 << 16
            # Stored, not deflated: compressed bytes may change with the zlib version, and the
            # same sources must give the same sha256 on every machine.
            entry.compress_type = zipfile.ZIP_STORED
            archive.writestr(entry, files[name])
    return buffer.getvalue()
