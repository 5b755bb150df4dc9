"""What every compiled step shares: the row types, the `_Step` protocol, `_Unsupported`, and
small helpers to recognise scikit-learn classes, identity steps, NaN and column selections.

Missing values are None or NaN alike: both behave like NaN in a pandas column.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

Row = Sequence[Any]
Rows = list[Row]
Records = Sequence[Mapping[str, Any]]


class _Unsupported(Exception):
    """A step compile_model cannot reproduce exactly; the caller falls back to the pipeline."""


class _Step(Protocol):
    """One compiled transformer: rows of `n_in` values in, rows of `width` values out."""

    width: int

    def __call__(self, rows: Rows) -> Rows: ...


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


def _getter(indices: list[int], n_in: int) -> Callable[[Row], Row] | None:
    """Fast column selection; None when it would select every column in order."""
    if indices == list(range(n_in)):
        return None
    if len(indices) == 1:
        (index,) = indices
        return lambda row: (row[index],)
    return itemgetter(*indices)
