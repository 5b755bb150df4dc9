"""The layout's rules, checked on the source: imports point one way, with no cycle.

    services (api, services) → monitoring → {batch, serving, rollout} → registry
        → {scoring, stats, storage} → core

`chalicelib` is what the Lambdas run and never imports the workstation package `sklambda`.
Every import counts, including those inside functions and under TYPE_CHECKING, except the
declarations in a package's `__init__` that `chalicelib/_lazy.py` loads on first use (an
import through a package is counted as an import of the module that defines the name).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Which packages each package may import (besides itself). Top-level modules of chalicelib
# (api, services) sit above every package.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "storage": {"core"},
    "stats": {"core"},
    "scoring": {"core", "stats"},
    "registry": {"core", "storage", "stats", "scoring"},
    "serving": {"core", "storage", "stats", "scoring", "registry"},
    "batch": {"core", "storage", "stats", "scoring", "registry"},
    "rollout": {"core", "storage", "stats", "scoring", "registry", "batch"},
    "monitoring": {
        "core",
        "storage",
        "stats",
        "scoring",
        "registry",
        "serving",
        "batch",
        "rollout",
    },
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {
        module_name(p): p for top in ("chalicelib", "sklambda") for p in (ROOT / top).rglob("*.py")
    }
    found["app"] = ROOT / "app.py"
    return found


def lazy_declarations(init: Path) -> dict[str, str]:
    """Name → defining module, from a package `__init__`'s TYPE_CHECKING block."""
    names: dict[str, str] = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    return names


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every project module `path` imports, resolved through packages' lazy names."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    if path.name == "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] in PROJECT)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PROJECT:
                continue
            init = modules.get(node.module)
            lazy = lazy_declarations(init) if init and init.name == "__init__.py" else {}
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    yield submodule
                else:
                    yield lazy.get(alias.name, node.module)


PROJECT = {"chalicelib", "sklambda", "app"}


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: {m for m in imports_of(path, modules) if m != name} for name, path in modules.items()
    }


def package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "chalicelib" or len(parts) < 2 or parts[1] not in ALLOWED:
        return None
    return parts[1]


def test_chalicelib_never_imports_the_workstation_package() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if module.split(".")[0] != "sklambda" and target.split(".")[0] == "sklambda"
    )
    assert wrong == []


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in graph().items():
        own = package_of(module)
        if own is None:  # app.py, api, services and the workstation package sit above all
            continue
        for target in targets:
            theirs = package_of(target)
            if theirs is None:  # a package importing a top-level module imports upwards
                if target.startswith("chalicelib.") and target != "chalicelib._lazy":
                    wrong.append(f"{module} ({own}) imports {target}")
            elif theirs != own and theirs not in ALLOWED[own]:
                wrong.append(f"{module} ({own}) imports {target} ({theirs})")
    assert sorted(wrong) == []


def test_no_import_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("rule", ["down", "cycle"])
def test_the_checks_catch_a_violation(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lower layer importing a higher one, or two modules importing each other, fail."""
    real = graph()
    broken = {k: set(v) for k, v in real.items()}
    if rule == "down":
        broken["chalicelib.stats._drift"].add("chalicelib.monitoring._monitor")
    else:
        broken["chalicelib.core._errors"].add("chalicelib.core._config")
        broken["chalicelib.core._config"].add("chalicelib.core._errors")
    monkeypatch.setitem(globals(), "graph", lambda: broken)
    check = test_imports_point_down_the_layers if rule == "down" else test_no_import_cycle
    with pytest.raises(AssertionError):
        check()
