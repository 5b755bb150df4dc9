"""Run by `_code_check.prove_clean_load` as `python -I -c <this source> <json>`: load a model
and predict a few rows with nothing importable but the Lambda runtime and the version's code.

Standard library only, and nothing imported before the guard is in place, so what the model
imports is what Lambda would have to import. Prints one JSON line: {"ok": true} or the error.
"""

import json
import pkgutil
import sys
import sysconfig
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType


class _OnlyAllowed(MetaPathFinder):
    """Top-level modules outside the allowed set fail as if they were not installed."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top not in self.allowed:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None


def _standard_library() -> set[str]:
    """Every module of this interpreter's standard library, platform-specific ones too
    (sys.stdlib_module_names leaves out e.g. _sysconfigdata_*, which sysconfig imports)."""
    folders = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    folders |= {str(Path(folder) / "lib-dynload") for folder in set(folders)}
    return {module.name for module in pkgutil.iter_modules(sorted(folders))}


def main() -> None:
    args = json.loads(sys.argv[1])
    sys.meta_path.insert(0, _OnlyAllowed(set(args["allowed"]) | _standard_library()))
    sys.path.insert(0, args["code"])
    try:
        import joblib

        from chalicelib.scoring import Validator, model_frame

        model = joblib.load(args["model"])
        # The rows as a JSON request would send them, read as serving reads them.
        rows = Validator(args["features"], unknown_categories="accept").validate(args["rows"])
        model.predict(model_frame(rows.rows, args["features"]))
    except BaseException as exc:  # noqa: BLE001 - every failure is the answer
        module = exc.name if isinstance(exc, ImportError) else None
        message = " ".join(str(exc).split())[:300]  # one line, for a one-line CLI error
        print(json.dumps({"error": type(exc).__name__, "message": message, "module": module}))
        sys.exit(1)
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
