"""Package sizes as Lambda counts them (the sum of the file sizes), and what slimming did."""

from __future__ import annotations

import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sklambda.infra.bundle._prune import Removal

MIB = 1024 * 1024
# Lambda rejects function code + layers above 262,144,000 bytes unzipped ("250 MB").
LAMBDA_UNZIPPED_LIMIT = 250 * MIB
UNZIPPED_TARGET = 200 * MIB
TOP_PACKAGES = 15


class _Unzipped:
    """The verdicts on an unzipped size: within Lambda's limit, within the target."""

    unzipped_bytes: int

    @property
    def within_limit(self) -> bool:
        return self.unzipped_bytes <= LAMBDA_UNZIPPED_LIMIT

    @property
    def within_target(self) -> bool:
        return self.unzipped_bytes <= UNZIPPED_TARGET


@dataclass(frozen=True)
class PackageSize(_Unzipped):
    """Sizes of a deployment zip as Lambda counts them."""

    zip_bytes: int
    unzipped_bytes: int
    files: int
    by_top_level: tuple[tuple[str, int], ...]

    def top(self, count: int = TOP_PACKAGES) -> tuple[tuple[str, int], ...]:
        return self.by_top_level[:count]


@dataclass(frozen=True)
class BundleReport(_Unzipped):
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
