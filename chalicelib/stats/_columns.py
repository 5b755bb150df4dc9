"""The typed description of one input column, decided at register time from the training frame.

Every reader (HTTP JSON and CSV bodies, batch CSV, JSON Lines and Parquet, the monitor,
retraining) turns what it reads into the values and dtype this description records, so the
estimator receives in production what it received at fit time. A column whose type cannot be
carried faithfully through JSON and CSV is refused here, with what to do instead.

    number    float, int, nullable Int/Float (`dtype` says which; ints must stay whole)
    boolean   bool, nullable boolean, or an object column of True/False
    category  object or pandas string columns of text; object columns of ints; pandas
              category of text, ints or floats (`categories`, `ordered`)
    datetime  datetime64 with or without a time zone (`timezone`)

Missing values: an empty CSV cell and JSON null, plus the text markers the description lists
(`missing_markers`, e.g. "NA" in a number column of a training file written by R).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

# Beyond this many levels a column is more of an identifier than a category; the levels are
# not listed (validation then cannot flag unseen ones for it).
MAX_LEVELS = 1000

NUMBER = "number"
BOOLEAN = "boolean"
CATEGORY = "category"
DATETIME = "datetime"

# How present values of a category are typed (JSON and CSV text are read into this type).
VALUE_TYPES = ("str", "int", "float", "bool")


class Feature(TypedDict):
    """One input column as registered: how every reader turns a value into what the model saw.

    `type`, `dtype` and `nullable` are always there; the others only where they apply (and
    versions registered before they existed lack them: those read as before).
    """

    name: str
    type: str  # number | boolean | category | datetime
    dtype: str  # the pandas dtype at fit time: float64, Int64, boolean, object, category, ...
    nullable: bool  # whether training had missing values
    levels: NotRequired[list[str] | None]  # levels seen, as text; None when there were too many
    n_levels: NotRequired[int]
    value_type: NotRequired[str]  # category: str | int | float | bool
    categories: NotRequired[list[Any]]  # dtype category: its categories, typed, in order
    categories_dtype: NotRequired[str]  # dtype category: the dtype of its categories
    ordered: NotRequired[bool]  # dtype category: whether they are ordered
    missing_value: NotRequired[str]  # dtype object: "none" or "nan", as training held them
    missing_markers: NotRequired[list[str]]  # text that also means missing
    timezone: NotRequired[str | None]  # datetime: the column's zone, None for naive times


def describe_column(name: str, series: pd.Series, markers: Collection[str] = ()) -> Feature:
    """The description of one training column; InvalidInputError if it cannot be served as is."""
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    described: Feature = {
        "name": name,
        "type": NUMBER,
        "dtype": str(dtype),
        "nullable": bool(series.isna().any()),
    }
    if isinstance(dtype, pd.CategoricalDtype):
        _describe_categorical(name, series, described)
    elif types.is_bool_dtype(dtype):
        described["type"] = BOOLEAN
    elif types.is_datetime64_any_dtype(dtype):
        described["type"] = DATETIME
        zone = getattr(dtype, "tz", None)
        described["timezone"] = None if zone is None else str(zone)
    elif types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        described["type"] = NUMBER
    elif types.is_object_dtype(dtype) or types.is_string_dtype(dtype):
        _describe_objects(name, series, described)
    else:
        raise _refused(
            name,
            f"has dtype {dtype}, which JSON and CSV cannot carry",
            "convert it to numbers, text or datetime64 before fitting",
        )
    if markers:
        _add_markers(name, described, markers)
    return described


def _describe_categorical(name: str, series: pd.Series, described: Feature) -> None:
    from pandas.api import types

    categories = series.cat.categories
    kind = types.infer_dtype(categories, skipna=True)
    value_type = {"string": "str", "integer": "int", "floating": "float", "boolean": "bool"}.get(
        kind
    )
    if value_type is None:
        raise _refused(
            name,
            f"is a category of {kind} values, which JSON and CSV cannot carry",
            "use categories of text or of numbers",
        )
    described["type"] = CATEGORY
    described["value_type"] = value_type
    described["categories"] = [to_json_scalar(c) for c in categories]
    described["categories_dtype"] = str(categories.dtype)
    described["ordered"] = bool(series.cat.ordered)
    if value_type == "str":
        _check_text_levels(name, [str(c) for c in categories])
    _add_levels(series.dropna().unique().tolist(), described)


def _describe_objects(name: str, series: pd.Series, described: Feature) -> None:
    from pandas.api import types

    present = series.dropna()
    kind = types.infer_dtype(present, skipna=True)
    if kind in ("string", "empty"):
        _check_text_levels(name, present.unique().tolist())
        described["type"] = CATEGORY
        described["value_type"] = "str"
    elif kind == "boolean":
        described["type"] = BOOLEAN
    elif kind == "integer" and types.is_object_dtype(series.dtype):
        described["type"] = CATEGORY
        described["value_type"] = "int"
    elif kind in ("floating", "integer", "mixed-integer-float", "decimal"):
        raise _refused(
            name,
            "holds numbers in an object column",
            "convert it with pd.to_numeric(...) (or .astype(float)) before fitting",
        )
    elif kind.startswith(("datetime", "date", "time")):
        raise _refused(
            name,
            "holds dates or times as Python objects",
            "convert it with pd.to_datetime(...) before fitting",
        )
    else:
        raise _refused(
            name,
            f"mixes value types ({kind})",
            "make every value text (.astype(str)) or every value a number before fitting",
        )
    if types.is_object_dtype(series.dtype):
        described["missing_value"] = _missing_value(series)
    if described["type"] == CATEGORY:
        _add_levels(present.unique().tolist(), described)


def _missing_value(series: pd.Series) -> str:
    """How an object column held missing values: None, or NaN (what pandas readers give)."""
    values = series.to_numpy(dtype=object)
    has_none = any(v is None for v in values)
    has_nan = any(isinstance(v, float) and math.isnan(v) for v in values)
    return "none" if has_none and not has_nan else "nan"


def _check_text_levels(name: str, levels: list[Any]) -> None:
    """Refuse levels a CSV file could not tell from a missing value."""
    blank = [level for level in levels if isinstance(level, str) and not level.strip()]
    if blank:
        raise _refused(
            name,
            f"has the blank text {blank[0]!r} as a category, which a CSV file cannot tell "
            "from a missing value",
            "replace it (e.g. with 'unknown') or with a missing value before fitting",
        )


def _add_levels(values: list[Any], described: Feature) -> None:
    levels = sorted({str(to_json_scalar(v)) for v in values})
    if len(levels) > MAX_LEVELS:
        described["levels"] = None
        described["n_levels"] = len(levels)
    else:
        described["levels"] = levels


def _add_markers(name: str, described: Feature, markers: Collection[str]) -> None:
    clash = sorted(set(markers) & set(described.get("levels") or ()))
    if clash:
        raise _refused(
            name,
            f"has {clash[0]!r} both as a value and as a missing-value marker",
            "drop the marker, or replace the value with a missing one before fitting",
        )
    described["missing_markers"] = sorted(markers)


def _refused(name: str, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"column {name!r} {problem}: {fix}")


def to_json_scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value JSON can hold."""
    return value.item() if hasattr(value, "item") else value
