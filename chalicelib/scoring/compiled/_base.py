"""What every compiled step shares: the row types, the `_Step` protocol, `_Unsupported`, and
small helpers to recognise scikit-learn classes, identity steps, NaN and column selections.

Missing values are None or NaN alike: both behave like NaN in a pandas column.

Every step is also data: `to_spec(writer)` gives its serving-plan spec (numbers in arrays,
text in the JSON), and its class's `from_spec(spec, reader)` rebuilds the same step, so a
plan replays the preprocessing with this very code and no estimator.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

from chalicelib.scoring.plans._format import PlanWriter, Spec, Unplannable

Row = Sequence[Any]
Rows = list[Row]
Records = Sequence[Mapping[str, Any]]


class _Unsupported(Exception):
    """A step compile_model cannot reproduce exactly; the caller falls back to the pipeline."""


class _Step(Protocol):
    """One compiled transformer: rows of `n_in` values in, rows of `width` values out."""

    width: int

    def __call__(self, rows: Rows) -> Rows: ...

    def trace(self, origins: list[int]) -> list[int]:
        """Where each output column comes from: given the user's input feature of each input
        column, that of each output column (a one-hot block all names its one feature)."""
        ...

    def to_spec(self, writer: PlanWriter) -> Spec:
        """This step as plan data; Unplannable when it cannot be data."""
        ...


def _is(obj: Any, module: str, name: str) -> bool:
    """True when obj is exactly sklearn's `module.name`, importing nothing new otherwise."""
    cls = type(obj)
    if cls.__name__ != name:
        return False
    # The object exists, so its (already imported) package makes this lookup cheap.
    return cls is getattr(importlib.import_module(module), name, None)


def _is_identity(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _selection(indices: list[int], n_in: int) -> list[int] | None:
    """The columns to select; None when that is every column in order."""
    return None if indices == list(range(n_in)) else indices


def _getter(selection: list[int] | None) -> Callable[[Row], Row] | None:
    """Fast selection of `selection`'s columns; None (no selection) keeps every column."""
    if selection is None:
        return None
    if len(selection) == 1:
        (index,) = selection
        return lambda row: (row[index],)
    return itemgetter(*selection)


# Values of the JSON spec: categories, text fills and codes. JSON has no NaN or infinity, and
# its numbers lose their Python type, so those are tagged; anything else is refused.
_FLOAT_TAG = "float"


def _value_to_json(value: Any, where: str) -> Any:
    """A category or fill value as JSON that `_value_from_json` turns back into an equal one;
    `where` names the step and column for the reason when it cannot be."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else {_FLOAT_TAG: repr(number)}
    raise Unplannable(f"{where}: a {type(value).__name__} value ({value!r}) cannot be plan data")


def _value_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return float(value[_FLOAT_TAG])  # 'nan', 'inf' or '-inf'
    return value
