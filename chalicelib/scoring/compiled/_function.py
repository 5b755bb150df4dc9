"""FunctionTransformer: its function applied to a numpy block, kept only when a probe on an
ndarray shows it returns one 2-D row per input row.

As plan data a function is a name from `_PLAN_FUNCTIONS`, a fixed list of numpy functions: a
plan never imports a function a spec names, and a user's own function cannot be data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib.scoring.compiled._base import Rows, _Step, _Unsupported
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable


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

    def trace(self, origins: list[int]) -> list[int]:
        if self.width != len(origins):
            raise ValueError("this function does not keep its columns apart")
        return list(origins)  # a plan's functions are all elementwise

    def to_spec(self, writer: PlanWriter) -> Spec:
        if self._check is not None:
            raise Unplannable(
                "FunctionTransformer(validate=True) checks its input with scikit-learn's "
                "check_array, which a plan does not carry"
            )
        if self._kwargs:
            raise Unplannable("FunctionTransformer with kw_args has no plan")
        name = _plan_name(self._func)
        if name is None:
            raise Unplannable(
                f"FunctionTransformer({_describe(self._func)}) runs code a plan cannot hold; "
                f"a plan knows only numpy's {', '.join(sorted(_PLAN_FUNCTIONS))}"
            )
        return {"kind": "function", "function": name, "width": self.width}

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _Function:
        func = _PLAN_FUNCTIONS.get(str(spec["function"]))
        if func is None:
            raise Unplannable(f"function {spec['function']!r} is not one a plan may call")
        step = cls(func, {}, None)
        step.width = int(spec["width"])
        return step


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


# The functions a plan may name: elementwise numpy functions, fixed here, looked up by name.
_PLAN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "identity": _identity,
    "abs": np.abs,
    "cbrt": np.cbrt,
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "log10": np.log10,
    "log1p": np.log1p,
    "log2": np.log2,
    "sign": np.sign,
    "sqrt": np.sqrt,
    "square": np.square,
    "tanh": np.tanh,
}


def _plan_name(func: Callable[..., Any]) -> str | None:
    """The allowed name of exactly this function object, if it has one."""
    return next((name for name, known in _PLAN_FUNCTIONS.items() if known is func), None)


def _describe(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or type(func).__module__
    return f"{module}.{getattr(func, '__qualname__', type(func).__name__)}"
