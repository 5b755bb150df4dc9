"""Reading a user's local files for the CLI: a joblib model file and a training table."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a readable file, else an error that names it."""
    if not path.is_file():
        raise InvalidInputError(f"{what} {str(path)!r} does not exist or is not a file")
    return path


def load_model_file(path: Path) -> Any:
    """The object in a joblib file the user gave us (their own file, so loading it is theirs)."""
    import joblib

    require_file(path, "model file")
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; all mean the same
        raise InvalidInputError(
            f"{str(path)!r} is not a joblib file ({type(exc).__name__}); save the fitted model "
            "with joblib.dump(model, 'model.joblib')"
        ) from None


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
