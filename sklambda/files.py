"""Reading a user's local files for the CLI: a joblib model file and a training table."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from chalicelib.registry import UserCode

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a readable file, else an error that names it."""
    if not path.is_file():
        raise InvalidInputError(f"{what} {str(path)!r} does not exist or is not a file")
    return path


def load_model_file(path: Path, code: UserCode | None = None) -> Any:
    """The object in a joblib file the user gave us (their own file, so loading it is theirs),
    loaded with the modules of `code` importable from it."""
    import joblib

    from chalicelib.registry import code_activated, main_module_message

    require_file(path, "model file")
    try:
        with code_activated(code):
            return joblib.load(path)
    except ModuleNotFoundError as exc:
        raise InvalidInputError(
            f"{str(path)!r} needs the module {exc.name or str(exc)!r}, which is not importable "
            "here; pass its file or package with --code"
        ) from None
    except AttributeError as exc:
        # What pickle says when a module lacks a function or class the model names: for
        # `__main__`, one that lived in a notebook or script.
        lacking = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
        if lacking and lacking.group(2) == "__main__":
            raise InvalidInputError(
                f"{str(path)!r}: {main_module_message([lacking.group(1)])}"
            ) from None
        if lacking:
            attribute, module = lacking.groups()
            raise InvalidInputError(
                f"{str(path)!r} needs {attribute!r} from the module {module!r}, which does not "
                "define it; pass the code the model was fitted with (--code)"
            ) from None
        raise _not_joblib(path, exc) from None
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; all mean the same
        raise _not_joblib(path, exc) from None


def _not_joblib(path: Path, exc: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"{str(path)!r} is not a joblib file ({type(exc).__name__}); save the fitted model "
        "with joblib.dump(model, 'model.joblib')"
    )


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """(frame, sha256 of the file) for a CSV, gzipped CSV or Parquet file."""
    import pandas as pd

    require_file(path, "training data file")
    name = path.name.lower()
    if not name.endswith(TABLE_SUFFIXES):
        raise InvalidInputError(
            f"cannot read {path.name!r}: training data must be {', '.join(TABLE_SUFFIXES)}"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    try:
        is_parquet = name.endswith((".parquet", ".pq"))
        frame = pd.read_parquet(path) if is_parquet else pd.read_csv(path)
    except ImportError as exc:
        raise InvalidInputError(
            f"reading {path.name!r} needs an optional package ({exc.name}); "
            "install it with pip install pyarrow"
        ) from None
    except Exception as exc:  # noqa: BLE001 - parsers raise many types for a bad file
        raise InvalidInputError(f"cannot read {path.name!r} as a table: {exc}") from None
    return frame, digest.hexdigest()
