"""FunctionTransformer: its function applied to a numpy block, kept only when a probe on an
ndarray shows it returns one 2-D row per input row."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib.scoring.compiled._base import Rows, _Step, _Unsupported


class _Function:
    """FunctionTransformer: its function applied to the numpy block of the current rows."""

    __slots__ = ("_check", "_func", "_kwargs", "width")

    def __init__(
        self,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        check: Callable[[np.ndarray], np.ndarray] | None,
    ) -> None:
        self._func = func
        self._kwargs = kwargs
        self._check = check
        self.width = 0

    def block(self, rows: Rows) -> np.ndarray:
        """The function's output as a 2-D ndarray."""
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            matrix = np.array(rows, dtype=object)  # strings: as pandas would hand them over
        if self._check is not None:
            matrix = self._check(matrix)
        return np.asarray(self._func(matrix, **self._kwargs))

    def __call__(self, rows: Rows) -> Rows:
        return self.block(rows).tolist()


def _compile_function_transformer(transformer: Any, n_in: int) -> list[_Step]:
    if transformer.func is None and not transformer.validate:
        return []  # what ColumnTransformer uses for "passthrough"
    check = None
    if transformer.validate:
        from sklearn.utils.validation import check_array

        accept_sparse = transformer.accept_sparse

        def check(matrix: np.ndarray) -> np.ndarray:
            return check_array(matrix, accept_sparse=accept_sparse)

    step = _Function(transformer.func or _identity, dict(transformer.kw_args or {}), check)
    # Only keep it if the function works on a plain ndarray and keeps it 2-D, row for row.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            probe = step.block([[0.0] * n_in])
        except Exception as error:  # noqa: BLE001 - e.g. it needs a DataFrame
            raise _Unsupported(f"FunctionTransformer fails on an ndarray: {error}") from error
    if probe.ndim != 2 or probe.shape[0] != 1:
        raise _Unsupported("FunctionTransformer does not return one row per input row")
    step.width = probe.shape[1]
    return [step]


def _identity(x: Any) -> Any:
    return x
