"""numpy replicas of the special functions scikit-learn scores with (expit, logsumexp), and
the checks its `validate_data` makes on X, shared by the linear, naive Bayes and MLP plans.

Only numpy and the standard library: a planned version serves without SciPy.
"""

from __future__ import annotations

import math

import numpy as np

# Above this, `1 - expit(x)` (sklearn's binary probabilities) keeps only the low bits of
# expit(x), where numpy's SIMD exp and the C library's exp (SciPy's) may differ by an ulp:
# there the C library's exp is called, as SciPy does. Below it an ulp of exp moves
# 1 - expit(x) by less than 1e-12 relative.
_LIBM_FROM = 10.0


def expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit: `1 / (1 + exp(-x))` with the C library's exp
    (scipy/special/xsf/log_exp.h), which `math.exp` also calls; numpy's exp is used where
    its last bit cannot matter (see _LIBM_FROM)."""
    with np.errstate(over="ignore"):
        out = 1.0 / (1.0 + np.exp(-x))
    tail = np.nonzero(x > _LIBM_FROM)
    if tail[0].size:
        out[tail] = [1.0 / (1.0 + math.exp(-value)) for value in x[tail].tolist()]
    return out


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
    on, and no NaN or infinity (serving must fail where the estimator fails)."""
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[-1]} features, but the estimator is expecting {n_features} features"
        )
    if not math.isfinite(X.sum()) and not np.isfinite(X).all():
        raise ValueError("Input X contains NaN or infinity.")
