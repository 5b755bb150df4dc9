"""The data form of a plan, shared by every family: a JSON spec tree whose arrays live in one
`.npz` file, written and read without pickle.

A spec is a JSON object `{"kind": <family kind>, ...}`; where it needs an array it holds the
array's key (a string) that `PlanWriter.add` returned. `PlanWriter.save` writes the arrays
with `numpy.savez` of plain dtypes (no object arrays), and `PlanReader` loads them with
`allow_pickle=False`, so reading a plan never runs code.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

Spec = dict[str, Any]

# Plain dtypes only: an object array would need pickle to be saved or read.
_ALLOWED_KINDS = frozenset("biuf")  # bool, signed and unsigned ints, floats


class Unplannable(Exception):
    """An estimator (or a setting of it) a plan cannot reproduce exactly; the message says
    which and why, for `describe`."""


class Unexplainable(Exception):
    """A head (or a plan written before explanations) whose contributions cannot be computed
    exactly; the message says which and why, for a 400 and for `describe`."""


# Why a plan written before explanations (no node covers, no reference mean) explains nothing.
REGISTERED_BEFORE_EXPLANATIONS = (
    "this version was registered before explanations; register it again to explain it"
)


class Head(Protocol):
    """A planned estimator, evaluated in numpy on the float64 matrix its pipeline gives it.

    Classifiers have `classes` (the estimator's `classes_`) and `predict_proba` where the
    estimator has it; `decision_function` where the estimator has it (stacking and
    calibration build on it). Regressors have `classes` None.
    """

    classes: np.ndarray | None

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class ExplainedHead(Protocol):
    """A head that explains its raw output exactly (SHAP values): `explain(X)` gives
    (base of shape (k,), contributions of shape (rows, n_features, k)) such that
    base + contributions.sum(axis=1) equals `raw_output(X)` of shape (rows, k).
    `raw_scale` names what is explained ("log-odds", "probability", "value", "raw"):
    a classifier's k outputs are its classes (k=1: the log-odds or score of classes[1])."""

    raw_scale: str

    def raw_output(self, X: np.ndarray) -> np.ndarray: ...

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class PlanWriter:
    """Collects the arrays of a plan under unique keys while its specs are built."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, array: Any, name: str = "a") -> str:
        """Store `array` (copied, contiguous) and return the key a spec holds for it."""
        value = np.ascontiguousarray(np.asarray(array))
        if value.dtype.kind not in _ALLOWED_KINDS:
            raise Unplannable(f"array {name!r} has dtype {value.dtype}, which a plan cannot hold")
        key = f"{name}_{len(self.arrays)}"
        self.arrays[key] = value.copy()
        return key

    def save(self) -> bytes:
        """The arrays as .npz bytes (uncompressed: loading fast matters more than size)."""
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **self.arrays)
        return buffer.getvalue()


class PlanReader:
    """The arrays of a saved plan, read without pickle."""

    def __init__(self, data: bytes | Mapping[str, np.ndarray]) -> None:
        if isinstance(data, bytes):
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                self.arrays = {key: archive[key] for key in archive.files}
        else:
            self.arrays = dict(data)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


# A family's two halves: spec from a fitted estimator (register time), head from a spec.
Planner = Callable[[Any, PlanWriter], Spec]
Loader = Callable[[Spec, PlanReader], Head]
