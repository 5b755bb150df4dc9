"""Build a stage's deployable: `chalice package` with infra/'s resources merged, then slimmed.

    build(project_dir, "prod", out_dir) -> Build(template, code_zip, ...)

Chalice picks the Lambda runtime from the Python that runs it, and the scientific wheels it
downloads need the python3.12 runtime, so packaging refuses any other Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core import ConfigError, SklambdaError
from sklambda.infra.bundle import TARGET_PYTHON, slim_package
from sklambda.infra.progress import Progress, quiet
from sklambda.infra.resources import StageConfig, merge_template
from sklambda.infra.template import finish

RUNTIME = TARGET_PYTHON  # Chalice packages for the Python that runs it
CODE_ZIP = "deployment.zip"
# What the functions' code is made of; the rest of the project never ships.
APP_FILES = ("app.py", "chalicelib", ".chalice", "requirements.txt")


class PackagingError(SklambdaError):
    code = "PackagingFailed"


@dataclass
class Build:
    """What `build` made, ready to deploy."""

    stage: str
    template_path: Path
    code_zip: Path
    template: dict[str, Any]
    sizes: dict[str, Any] = field(default_factory=dict)


def check_python(version: tuple[int, int] | None = None) -> None:
    """ConfigError unless this is the Lambda runtime's Python (Chalice packages for it)."""
    found = version or (sys.version_info.major, sys.version_info.minor)
    if tuple(found) != RUNTIME:
        wanted = ".".join(map(str, RUNTIME))
        raise ConfigError(
            f"packaging needs Python {wanted} (the functions' runtime, python{wanted}); "
            f"this is Python {found[0]}.{found[1]}: run sklambda from the project's .venv "
            "(scripts/setup builds it with 3.12)"
        )


def build(
    project_dir: Path,
    stage: str,
    out_dir: Path,
    *,
    with_dependencies: bool = True,
    slim: bool = True,
    progress: Progress = quiet,
) -> Build:
    """Package `stage` of the app in `project_dir` into `out_dir` (created if needed).

    `with_dependencies=False` packages the app alone (for checking the template quickly);
    `slim=False` keeps Chalice's zip as it is.
    """
    check_python()
    config = StageConfig.from_chalice(project_dir, stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    merge_path = out_dir / "resources.json"
    merge_path.write_text(json.dumps(merge_template(config), indent=1))
    chalice_out = out_dir / "chalice"
    shutil.rmtree(chalice_out, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="sklambda-build-") as scratch:
        source = project_dir
        if not with_dependencies:
            source = _app_only_copy(project_dir, Path(scratch))
        progress(f"packaging stage {stage} with chalice (runtime python3.12)")
        _chalice_package(source, stage, merge_path, chalice_out)
    template = finish(json.loads((chalice_out / "sam.json").read_text()))
    raw_zip = chalice_out / CODE_ZIP
    code_zip = out_dir / CODE_ZIP
    sizes: dict[str, Any] = {"raw_zip_bytes": raw_zip.stat().st_size}
    if slim:
        progress("slimming the package: tests and stubs out, symbols stripped, bytecode in")
        report = slim_package(raw_zip, code_zip)
        sizes.update(_report_sizes(report))
        for warning in report.warnings:
            progress(f"warning: {warning}")
    else:
        shutil.copyfile(raw_zip, code_zip)
    sizes["zip_bytes"] = code_zip.stat().st_size
    template_path = out_dir / "template.json"
    template_path.write_text(json.dumps(template, indent=1))
    return Build(stage, template_path, code_zip, template, sizes)


def _app_only_copy(project_dir: Path, scratch: Path) -> Path:
    for name in APP_FILES:
        source = project_dir / name
        if source.is_dir():
            shutil.copytree(source, scratch / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copyfile(source, scratch / name)
    (scratch / "requirements.txt").write_text("")
    return scratch


def _chalice_package(project_dir: Path, stage: str, merge: Path, out: Path) -> None:
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice) if chalice.exists() else "chalice", "--project-dir", str(project_dir)]
    command += ["package", "--stage", stage, "--pkg-format", "cloudformation"]
    command += ["--merge-template", str(merge), str(out)]
    # Packaging is local; Chalice still wants a region to be set.
    env = {**os.environ}
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PackagingError(
            "chalice package failed: " + (detail[-1] if detail else f"exit {result.returncode}")
        )


def _report_sizes(report: Any) -> dict[str, Any]:
    return {
        "unzipped_bytes": report.unzipped_bytes,
        "removed_bytes": {removal.rule: removal.bytes for removal in report.removed},
        "warnings": list(report.warnings),
    }
