"""The modules a pickle may import on Lambda without shipping code: exactly what
requirements.txt installs (its distributions and their dependencies), plus the app."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from packaging.requirements import Requirement

from chalicelib.registry._runtime_modules import APP_MODULES, PACKAGE_MODULES, in_runtime

ROOT = Path(__file__).resolve().parents[2]


def distribution_key(name: str) -> str:
    return name.lower().replace("_", "-")


def installed_by_requirements() -> dict[str, set[str]]:
    """Distribution → its top-level import names, for requirements.txt and what it pulls in."""
    tops: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        if module.isidentifier() and module != "__pycache__":  # a stray folder, not a module
            for distribution in distributions:
                tops.setdefault(distribution_key(distribution), set()).add(module)
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line).name for line in lines if line.strip() and line[0] != "#"]
    found: dict[str, set[str]] = {}
    while pending:
        distribution = metadata.distribution(pending.pop())
        key = distribution_key(distribution.metadata["Name"])
        if key in found:
            continue
        found[key] = tops.get(key, set())
        for requirement in map(Requirement, distribution.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return found


def test_every_distribution_lambda_installs_is_covered_and_nothing_else() -> None:
    installed = installed_by_requirements()
    assert {"scikit-learn", "pandas", "boto3", "python-dateutil"} <= set(installed)
    missing = {d: sorted(m - PACKAGE_MODULES) for d, m in installed.items() if m - PACKAGE_MODULES}
    assert missing == {}, "add these import names to PACKAGE_MODULES"
    extra = PACKAGE_MODULES - set().union(*installed.values())
    assert extra == set(), "not installed by requirements.txt: remove from PACKAGE_MODULES"


def test_the_standard_library_and_the_app_are_in_the_runtime() -> None:
    assert all(in_runtime(m) for m in ["json", "collections.abc", "_codecs", "builtins"])
    assert all(in_runtime(m) for m in APP_MODULES | {"sklearn.pipeline", "dateutil.tz"})
    assert not any(in_runtime(m) for m in ["features", "sklambda", "pyarrow", "lightgbm"])
