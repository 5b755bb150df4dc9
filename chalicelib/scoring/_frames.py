"""Checked values as the columns the model was fitted on: same values, same dtype.

The one place that turns canonical values (what the checkers of `_values` return; None or NaN
for missing) into a pandas column with the dtype of its description: the pipeline path of
HTTP scoring, batch scoring and retraining all build their frames here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.scoring._values import is_whole_dtype
from chalicelib.stats import BOOLEAN, CATEGORY, DATETIME, NUMBER

if TYPE_CHECKING:
    import pandas as pd

_NAN = float("nan")


def model_frame(rows: Sequence[Mapping[str, Any]], features: Sequence[Mapping[str, Any]]) -> Any:
    """Checked records (feature → value) as the frame the model reads."""
    import pandas as pd

    return pd.DataFrame(
        {str(f["name"]): model_series([row.get(f["name"]) for row in rows], f) for f in features}
    )


def frame_records(frame: Any) -> list[dict[str, Any]]:
    """A model frame back as checked records: Python values, None for missing, as the
    validator gives them to the records paths (the plan and the compiled preprocessing)."""
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        columns[str(name)] = values.tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def model_series(values: Any, feature: Mapping[str, Any], index: Any = None) -> pd.Series:
    """One feature's checked values (a list or array) as the column the model was fitted on."""
    import pandas as pd

    kind = feature.get("type")
    dtype = str(feature.get("dtype") or "")
    array = np.asarray(values, dtype=float if kind == NUMBER else object)
    if kind == NUMBER:
        return pd.Series(_numbers(array, dtype), index=index, copy=False)
    missing = pd.isna(array)
    if kind == DATETIME:
        return pd.Series(_times(array, missing, feature), index=index, copy=False)
    if dtype == "category":
        return pd.Series(_categorical(array, missing, feature), index=index, copy=False)
    if kind == BOOLEAN and dtype == "bool" and not missing.any():
        return pd.Series(array.astype(bool), index=index, copy=False)
    if kind in (BOOLEAN, CATEGORY) and dtype not in ("object", "bool", ""):
        # Nullable boolean, pandas string / str: the extension type holds its own missing.
        array[missing] = None
        return pd.Series(pd.array(array, dtype=dtype), index=index, copy=False)
    # Object columns: missing as training held it (pandas readers give NaN; frames built in
    # Python often hold None, and some encoders tell them apart).
    array[missing] = None if feature.get("missing_value") == "none" else _NAN
    return pd.Series(array, index=index, dtype=object, copy=False)


def _numbers(floats: np.ndarray, dtype: str) -> Any:
    import pandas as pd

    if dtype in ("", "float64"):
        return floats
    missing = np.isnan(floats)
    if dtype[:1].isupper():  # nullable Int64, Float64, ...: missing is pd.NA
        array = pd.array(floats, dtype="Float64") if missing.any() else floats
        return pd.array(array, dtype=dtype)
    if is_whole_dtype(dtype) and missing.any():
        return floats  # an int column with a missing value is float64, as pandas makes it
    try:
        return floats.astype(dtype)
    except TypeError:  # a dtype this numpy does not name: float64, as before descriptions
        return floats


def _categorical(array: np.ndarray, missing: np.ndarray, feature: Mapping[str, Any]) -> Any:
    import pandas as pd

    categories = list(feature.get("categories") or [])
    known = set(categories)
    present = array[~missing].tolist()
    # A level never seen in training (scored under the "accept"/"warn" policies) is kept as
    # a category of its own after the training ones, as pd.Categorical would make it.
    unseen = list(dict.fromkeys(v for v in present if v not in known))
    array[missing] = _NAN
    index = pd.Index(categories + unseen, dtype=feature.get("categories_dtype"))
    dtype = pd.CategoricalDtype(index, ordered=bool(feature.get("ordered")))
    return pd.Categorical(array, dtype=dtype)


def _times(array: np.ndarray, missing: np.ndarray, feature: Mapping[str, Any]) -> Any:
    import pandas as pd

    array[missing] = None
    zone = feature.get("timezone")
    dtype = str(feature.get("dtype") or "datetime64[ns]")
    if zone:
        times = pd.to_datetime(array, format="ISO8601", utc=True).tz_convert(zone)
    else:
        times = pd.to_datetime(array, format="ISO8601")
    return times.astype(dtype)
