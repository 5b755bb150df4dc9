"""Reading a user's local files for the CLI: a joblib model file and a training table."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from chalicelib.registry import UserCode

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

# The text pandas.read_csv reads as missing by default: worth a word to the user when a
# column holds it, since their own reading may have taken it for a missing value.
PANDAS_NA_TEXT = frozenset(
    {
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


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
        # `__main__`, one that lived in a notebook or script. (Under `python -m pkg` the
        # main module shows as 'pkg.__main__'.)
        lacking = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
        if lacking and lacking.group(2).split(".")[-1] == "__main__":
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


@dataclass
class TrainingTable:
    """A training file as registration reads it."""

    frame: pd.DataFrame
    sha256: str  # of the file's bytes
    # Per column, text read as a missing value besides an empty cell, as the user named it
    # (e.g. "NA" in a number column written by R).
    missing_markers: dict[str, list[str]] = field(default_factory=dict)


def read_table(
    path: Path, missing_markers: Mapping[str, Sequence[str]] | None = None
) -> TrainingTable:
    """A CSV, gzipped CSV or Parquet training file, read as production reads files.

    In CSV only an empty cell is missing, and the text `missing_markers` names per column
    (which the version then keeps): "NA" is otherwise a value like any other. Nothing is
    guessed: "1, 2, NA" may be numbers with a gap or three category codes, and only the user
    knows which their pipeline was fitted on (`marker_like_values` says what to ask about).
    """
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
    markers = {str(k): sorted(set(v)) for k, v in (missing_markers or {}).items()}
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
            if markers:
                frame = frame.replace({c: {m: None for m in ms} for c, ms in markers.items()})
        else:
            frame = _read_csv(path, markers)
    except ImportError as exc:
        raise InvalidInputError(
            f"reading {path.name!r} needs an optional package ({exc.name}); "
            "install it with pip install pyarrow"
        ) from None
    except Exception as exc:  # noqa: BLE001 - parsers raise many types for a bad file
        raise InvalidInputError(f"cannot read {path.name!r} as a table: {exc}") from None
    unknown = sorted(set(markers) - set(map(str, frame.columns)))
    if unknown:
        raise InvalidInputError(
            f"missing-value markers name columns {path.name!r} does not have: {', '.join(unknown)}"
        )
    return TrainingTable(frame, digest.hexdigest(), {c: m for c, m in markers.items() if m})


def marker_like_values(table: TrainingTable) -> dict[str, list[str]]:
    """Text columns holding values pandas would read as missing by default ("NA", "null"):
    registered as values, which a user who meant missing should hear about."""
    import pandas as pd

    found: dict[str, list[str]] = {}
    for column in table.frame.columns:
        series = table.frame[column]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            texts = series.dropna().astype(str)
            like = sorted(set(texts[texts.isin(PANDAS_NA_TEXT)]))
            if like:
                found[str(column)] = like
    return found


def _read_csv(path: Path, markers: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    import pandas as pd

    if not markers:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    # Per-column lists replace the common one, so every column gets its own "".
    columns = pd.read_csv(path, nrows=0).columns
    na_values = {c: ["", *markers.get(str(c), ())] for c in columns}
    return pd.read_csv(path, keep_default_na=False, na_values=na_values)
