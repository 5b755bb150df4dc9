"""Debug symbols stripped from the package's shared objects.

`strip --strip-unneeded` on every shared object, except where the loader would refuse the
stripped copy: scipy.libs' OpenBLAS and libgfortran, which auditwheel's patchelf edited,
come out of strip with a load segment off page alignment ("ELF load command address/offset
not page-aligned" on import). Each stripped file is checked; 2.0 MiB kept for those two.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from sklambda.infra.bundle._archive import tree_files

_SHARED_OBJECT_MARK = ".so"


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
    for path, relative in sorted(tree_files(root)):
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
