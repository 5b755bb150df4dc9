"""A classifier's `classes_` in a plan: numbers and booleans as an array, strings as a JSON
list (the .npz holds no object arrays, which would need pickle)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable


def add_classes(classes: Any, writer: PlanWriter) -> Spec:
    """The spec of `classes` (a 1-D array of numbers, booleans or strings)."""
    array = np.asarray(classes)
    if array.ndim != 1:
        raise Unplannable(f"classes_ of shape {array.shape}: only a 1-D list of labels is planned")
    if array.dtype.kind in "biuf":
        return {"array": writer.add(array, "classes")}
    values = array.tolist()
    if array.dtype.kind in "UO" and all(type(value) is str for value in values):
        return {
            "strings": values,
            "dtype": "object" if array.dtype.kind == "O" else array.dtype.str,
        }
    raise Unplannable(
        f"classes_ of dtype {array.dtype} holds labels other than numbers or strings, "
        "which a plan cannot hold without pickle"
    )


def load_classes(spec: Spec, reader: PlanReader) -> np.ndarray:
    """The classes_ array `add_classes` described, with its dtype."""
    if "array" in spec:
        return reader[spec["array"]]
    return np.array(spec["strings"], dtype=object if spec["dtype"] == "object" else spec["dtype"])
