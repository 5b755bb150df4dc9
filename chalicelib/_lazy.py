"""Packages whose public names load on first use (PEP 562), declared once for Python and mypy.

A package's `__init__.py` imports its public names inside `if TYPE_CHECKING:`, which type
checkers read, and ends with `__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)`,
which reads those same import lines from the source and imports a module when one of its
names is first used. Importing a package therefore costs nothing by itself: a pure module that
needs one error class does not pull in the logging library, and the HTTP function never
imports the batch reader's pandas. (The same idea as scientific Python's SPEC 1 lazy loading.)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any


def lazy_exports(
    package: str, init_file: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for the package whose `__init__` is `init_file`."""
    where = _declared_imports(Path(init_file).read_text(encoding="utf-8"))

    def __getattr__(name: str) -> Any:
        try:
            module, attribute = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)


def _declared_imports(source: str) -> dict[str, tuple[str, str]]:
    """Public name → (module, attribute), from the `if TYPE_CHECKING:` block's imports."""
    where: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        where[alias.asname or alias.name] = (statement.module, alias.name)
    return where
