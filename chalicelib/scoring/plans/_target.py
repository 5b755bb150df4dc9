"""Plan family _target: TransformedTargetRegressor (sklearn/compose/_target.py).

`predict` is the planned `regressor_`'s prediction, reshaped to one column when 1-D, through
`transformer_.inverse_transform`, and squeezed back to 1-D when the target was fitted 1-D
(`_training_dim`). The inverse transforms planned:

- StandardScaler.inverse_transform (sklearn/preprocessing/_data.py): on a float64 copy
  (check_array refuses infinity, lets NaN through), `X *= scale_` then `X += mean_`;
- FunctionTransformer.inverse_transform (sklearn/preprocessing/_function_transformer.py,
  also what TransformedTargetRegressor builds from `func`/`inverse_func`, with
  validate=True): check_array when `validate` (NaN and infinity refused), then
  `inverse_func(X)`, the identity when it is None. Only numpy's own exp, log, expm1, log1p,
  square and sqrt are planned, recognised by identity and stored by name: a plan never holds
  a callable. `func` is not evaluated at prediction, so it is not part of the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import (
    Head,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unplannable,
)
from chalicelib.scoring.plans._heads import class_path
from chalicelib.scoring.plans._parts import load_part, plan_part

KIND = "transformed_target"
_WRAPPER = "TransformedTargetRegressor"
_SCALER = "sklearn.preprocessing._data.StandardScaler"
_FUNCTION = "sklearn.preprocessing._function_transformer.FunctionTransformer"

# The inverse functions a plan may name, and the numpy function each name is.
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "log": np.log,
    "expm1": np.expm1,
    "log1p": np.log1p,
    "square": np.square,
    "sqrt": np.sqrt,
}

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def plan_transformed_target(estimator: Any, writer: PlanWriter) -> Spec:
    return {
        "kind": KIND,
        "regressor": plan_part(estimator.regressor_, writer, wrapper=_WRAPPER, part="regressor_"),
        "inverse": _plan_inverse(estimator.transformer_, writer),
        "training_dim": int(estimator._training_dim),
    }


def _plan_inverse(transformer: Any, writer: PlanWriter) -> Spec:
    path = class_path(transformer)
    if path == _SCALER:
        return _plan_scaler(transformer, writer)
    if path == _FUNCTION:
        return _plan_function(transformer)
    raise Unplannable(
        f"{_WRAPPER} with a {type(transformer).__name__} transformer is not planned: only "
        "StandardScaler and numpy's exp, log, expm1, log1p, square and sqrt are"
    )


def _plan_scaler(scaler: Any, writer: PlanWriter) -> Spec:
    spec: Spec = {"type": "standard_scaler", "scale": None, "mean": None}
    for name, used in (("scale", scaler.with_std), ("mean", scaler.with_mean)):
        value = getattr(scaler, f"{name}_", None)
        if not used or value is None:
            continue
        array = np.asarray(value)
        if array.dtype != np.float64:
            raise Unplannable(f"{_WRAPPER}: its StandardScaler's {name}_ is {array.dtype}")
        spec[name] = writer.add(array, name)
    return spec


def _function_name(function: Any) -> str:
    if function is None:
        return "identity"
    for name, numpy_function in FUNCTIONS.items():
        if function is numpy_function:
            return name
    shown = getattr(function, "__name__", type(function).__name__)
    raise Unplannable(
        f"{_WRAPPER} with inverse_func {shown!r} is not planned: only numpy's exp, log, "
        "expm1, log1p, square and sqrt (or none) are, as a plan holds no code"
    )


def _plan_function(transformer: Any) -> Spec:
    if transformer.inv_kw_args:
        raise Unplannable(f"{_WRAPPER} with inv_kw_args for inverse_func is not planned")
    return {
        "type": "function",
        "inverse_func": _function_name(transformer.inverse_func),
        "validate": bool(transformer.validate),
    }


# --- serving (numpy only) -------------------------------------------------------------


def _check_finite(X: np.ndarray, allow_nan: bool) -> None:
    """check_array's refusal of infinity (and of NaN unless allowed) in the target."""
    if np.isfinite(X).all():
        return
    if np.isinf(X).any():
        raise ValueError("Input contains infinity or a value too large for dtype('float64').")
    if not allow_nan:
        raise ValueError("Input contains NaN.")


class _ScalerInverse:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self._scale = None if spec["scale"] is None else reader[spec["scale"]]
        self._mean = None if spec["mean"] is None else reader[spec["mean"]]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.array(X, dtype=np.float64, copy=True)
        _check_finite(X, allow_nan=True)
        if self._scale is not None:
            X *= self._scale
        if self._mean is not None:
            X += self._mean
        return X


class _FunctionInverse:
    def __init__(self, spec: Spec) -> None:
        name = str(spec["inverse_func"])
        self._function = None if name == "identity" else FUNCTIONS[name]
        self._validate = bool(spec["validate"])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self._validate:
            _check_finite(X, allow_nan=False)
        return X if self._function is None else self._function(X)


class TransformedTargetHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = None
        self._regressor = load_part(spec["regressor"], reader)
        inverse = spec["inverse"]
        self._inverse: Callable[[np.ndarray], np.ndarray] = (
            _ScalerInverse(inverse, reader)
            if inverse["type"] == "standard_scaler"
            else _FunctionInverse(inverse)
        )
        self._training_dim = int(spec["training_dim"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """TransformedTargetRegressor.predict."""
        pred = self._regressor.predict(X)
        pred_trans = self._inverse(pred.reshape(-1, 1) if pred.ndim == 1 else pred)
        if self._training_dim == 1 and pred_trans.ndim == 2 and pred_trans.shape[1] == 1:
            pred_trans = pred_trans.squeeze(axis=1)
        return pred_trans


def load_transformed_target(spec: Spec, reader: PlanReader) -> Head:
    return TransformedTargetHead(spec, reader)


PLANNERS: dict[str, Planner] = {
    "sklearn.compose._target.TransformedTargetRegressor": plan_transformed_target
}
LOADERS: dict[str, Loader] = {KIND: load_transformed_target}
