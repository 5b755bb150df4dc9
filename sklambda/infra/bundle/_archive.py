"""Unpacking Chalice's zip into a scratch directory, and packing the result again.

The zip is deterministic: sorted entries, 1980-01-01 timestamps, modes 644 (755 for
executables), deflate level 6; the same input gives the same bytes.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

# Entries carry a fixed time so the same input gives the same bytes (zip's epoch).
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_COMPRESSLEVEL = 6


def extract(source_zip: Path, root: Path) -> dict[str, int]:
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


def tree_files(root: Path) -> Iterator[tuple[Path, PurePosixPath]]:
    """Every file under `root`, with its path relative to `root`."""
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            yield path, PurePosixPath(path.relative_to(root).as_posix())


def write_zip(root: Path, dest_zip: Path, modes: dict[str, int]) -> None:
    """A deterministic zip: sorted names, fixed timestamps and modes, deflate."""
    entries = sorted((relative.as_posix(), path) for path, relative in tree_files(root))
    partial = dest_zip.with_name(dest_zip.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.create_system = 3  # Unix, so the mode below is honoured when unpacking
            info.external_attr = (stat.S_IFREG | modes.get(name, 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=ZIP_COMPRESSLEVEL)
    partial.replace(dest_zip)
