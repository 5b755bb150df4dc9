"""A data scientist's own module, as the column fidelity tests ship it with --code.

Top-level (imported as `time_features`, with this folder on sys.path), so a pickle names it
the way it names a user's module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def datetime_seconds(frame: pd.DataFrame) -> np.ndarray:
    """Seconds since the epoch (UTC) of each datetime column as floats, NaN where missing.

    For FunctionTransformer in pipelines fitted on datetime columns. Strict: a column that
    is not datetime64 is refused, so a scorer handing over text or numbers fails loudly.
    """
    columns = []
    for name in frame.columns:
        series = frame[name]
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            raise TypeError(f"datetime_seconds: column {name!r} is {series.dtype}, not datetime64")
        if series.dt.tz is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        seconds = (series - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
        columns.append(seconds.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(columns)
