"""numpy replicas of the special functions scikit-learn scores with (expit, logsumexp), and
the checks its `validate_data` makes on X, shared by the linear, naive Bayes and MLP plans.

Only numpy and the standard library: a planned version serves without SciPy.
"""

from __future__ import annotations

import math

import numpy as np


def expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit to the last bit: `1 / (1 + exp(-x))` with the C library's exp
    (scipy/special/xsf/log_exp.h), which `math.exp` calls too. numpy's SIMD exp differs from
    it by an ulp on a few percent of values, and sklearn's `1 - expit(x)` for two classes
    keeps only the last bits of expit(x) when x is large: probabilities use this one. (Python
    floats add and divide as float64 does; the loop is cheaper than numpy's calls for the one
    or few rows of a request.)"""
    values = [1.0 / (1.0 + _exp_or_infinity(-value)) for value in x.ravel().tolist()]
    return np.array(values, dtype=np.float64).reshape(x.shape)


def _exp_or_infinity(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def expit_numpy(x: np.ndarray) -> np.ndarray:
    """expit with numpy's exp: within an ulp or so of SciPy's, some 20 times faster on large
    arrays; for hidden layers, whose ulps only nudge the outputs."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def logsumexp_rows(array: np.ndarray) -> np.ndarray:
    """sklearn.utils._array_api._logsumexp(array, axis=1) for a float64 matrix, step by step
    (it simplifies scipy.special.logsumexp; naive_bayes.py normalises with it)."""
    array_max = np.max(array, axis=1, keepdims=True)
    index_max = array == array_max
    array = np.array(array, copy=True)
    array[index_max] = -np.inf
    m = np.sum(index_max.astype(array.dtype), axis=1, keepdims=True, dtype=array.dtype)
    shift = np.where(np.isfinite(array_max), array_max, 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exp = np.exp(array - shift)
        s = np.sum(exp, axis=1, keepdims=True, dtype=exp.dtype)
        s = np.where(s == 0, s, s / m)
        out = np.log1p(s) + np.log(m) + array_max
    return np.squeeze(out, axis=1)


def check_matrix(X: np.ndarray, n_features: int) -> None:
    """The refusals of sklearn's validate_data on a float matrix: the width it was fitted
    on, at least one row, and no NaN or infinity (serving must fail where the estimator fails)."""
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[-1]} features, but the estimator is expecting {n_features} features"
        )
    if X.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if not math.isfinite(X.sum()) and not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
