"""Plan family _calibration: CalibratedClassifierCV (sklearn/calibration.py) with method
'sigmoid' or 'isotonic', ensemble or not, binary or multiclass.

`predict_proba` is the mean of its calibrated classifiers' probabilities, summed in order
into zeros and divided by their number; `predict` the class of the first largest. Each
calibrated classifier follows `_CalibratedClassifier.predict_proba`:

1. the base estimator's response as `_get_response_values` gives it: `decision_function`
   if the estimator has one, else `predict_proba`; for two classes (type_of_target of its
   classes_ is 'binary') only the column of classes_[-1], as one column;
2. each column through its calibrator into the column of its class (the base estimator's
   classes found among the wrapper's; for two classes the one column is classes_[1]);
   `_SigmoidCalibration.predict` is `expit(-(a_ * T + b_))` (SciPy's expit, replayed in
   `_special`), `IsotonicRegression.predict` is np.interp over its thresholds (SciPy's
   interp1d delegates to it for float64) after clipping to [X_min_, X_max_];
3. two classes: column 0 is `1 - column 1`; more: rows divided by their sum (uniform
   where it is 0); values in (1, 1 + 1e-5] set to 1.
"""

from __future__ import annotations

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
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._parts import (
    bound,
    classes_index,
    load_part,
    plan_part,
    response_method,
)
from chalicelib.scoring.plans._special import expit

KIND = "calibrated_classifier"
_WRAPPER = "CalibratedClassifierCV"
_SIGMOID = "sklearn.calibration._SigmoidCalibration"
_ISOTONIC = "sklearn.isotonic.IsotonicRegression"

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def plan_calibrated(estimator: Any, writer: PlanWriter) -> Spec:
    method = str(estimator.method)
    if method not in ("sigmoid", "isotonic"):
        raise Unplannable(
            f"{_WRAPPER} with method={method!r} is not planned: only the 'sigmoid' and "
            "'isotonic' calibrations are replayed exactly"
        )
    classes = estimator.classes_
    pairs = estimator.calibrated_classifiers_
    return {
        "kind": KIND,
        "classes": add_classes(classes, writer),
        "calibrated": [
            _plan_pair(pair, classes, writer, f"classifier {i + 1} of {len(pairs)}")
            for i, pair in enumerate(pairs)
        ],
    }


def _is_binary(classes: Any) -> bool:
    """type_of_target(classes) == 'binary' (sklearn/utils/multiclass.py) for the labels of a
    fitted classifier; labels that are not whole numbers make it 'continuous', which is not
    planned."""
    labels = np.asarray(classes)
    if labels.dtype.kind == "f" and np.any(labels != labels.astype(int)):
        raise Unplannable(
            f"{_WRAPPER} over class labels that are not whole numbers is not planned: "
            "scikit-learn then reads its base estimator's responses another way"
        )
    return len(labels) <= 2


def _plan_pair(pair: Any, classes: Any, writer: PlanWriter, where: str) -> Spec:
    base = pair.estimator
    response = response_method(base, ["decision_function", "predict_proba"])
    spec = plan_part(
        base, writer, wrapper=_WRAPPER, part=f"estimator of {where}", methods=[response]
    )
    return {
        "estimator": spec,
        "response": response,
        "binary": _is_binary(base.classes_),
        "class_indices": classes_index(classes, base.classes_),
        "calibrators": [_plan_calibrator(c, writer) for c in pair.calibrators],
    }


def _plan_calibrator(calibrator: Any, writer: PlanWriter) -> Spec:
    path = class_path(calibrator)
    if path == _SIGMOID:
        return {"type": "sigmoid", "a": float(calibrator.a_), "b": float(calibrator.b_)}
    if path != _ISOTONIC:
        raise Unplannable(f"{_WRAPPER}: a calibrator {type(calibrator).__name__} is not planned")
    x, y = calibrator.X_thresholds_, calibrator.y_thresholds_
    if x.dtype != np.float64 or y.dtype != np.float64:
        raise Unplannable(
            f"{_WRAPPER}: an isotonic calibrator fitted on {x.dtype} responses is not "
            "planned: SciPy interpolates other than float64 with its own formula"
        )
    out_of_bounds = str(calibrator.out_of_bounds)
    if out_of_bounds not in ("clip", "nan", "raise"):
        raise Unplannable(f"{_WRAPPER}: isotonic out_of_bounds={out_of_bounds!r} is not planned")
    return {
        "type": "isotonic",
        "x": writer.add(x, "x_thresholds"),
        "y": writer.add(y, "y_thresholds"),
        "x_min": float(calibrator.X_min_),
        "x_max": float(calibrator.X_max_),
        "out_of_bounds": out_of_bounds,
    }


# --- serving (numpy only) -------------------------------------------------------------


class _Sigmoid:
    def __init__(self, spec: Spec) -> None:
        self._a = float(spec["a"])
        self._b = float(spec["b"])

    def predict(self, T: np.ndarray) -> np.ndarray:
        return expit(-(self._a * T + self._b))


class _Isotonic:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self._x = reader[spec["x"]]
        self._y = reader[spec["y"]]
        self._x_min = float(spec["x_min"])
        self._x_max = float(spec["x_max"])
        self._out_of_bounds = str(spec["out_of_bounds"])

    def predict(self, T: np.ndarray) -> np.ndarray:
        """IsotonicRegression._transform: check_array's refusal of NaN and infinity, the
        clip, then interp1d (np.interp, NaN outside the thresholds unless clipped)."""
        T = np.asarray(T, dtype=np.float64).reshape(-1)
        if not np.isfinite(T).all():
            raise ValueError("Input contains NaN or infinity.")
        if self._out_of_bounds == "clip":
            T = np.clip(T, self._x_min, self._x_max)
        if len(self._y) == 1:  # `_build_f`: a constant for a single threshold
            return self._y.repeat(T.shape)
        below, above = self._x[0] > T, self._x[-1] < T
        if self._out_of_bounds == "raise" and (below.any() or above.any()):
            raise ValueError("A value in x_new is outside the interpolation range.")
        res = np.interp(T, self._x, self._y)
        res[below] = np.nan
        res[above] = np.nan
        return res


class _CalibratedPair:
    """_CalibratedClassifier: a planned base estimator and its calibrators."""

    def __init__(self, spec: Spec, reader: PlanReader, n_classes: int) -> None:
        self._estimator = load_part(spec["estimator"], reader)
        self._response = bound(self._estimator, str(spec["response"]))
        self._proba = spec["response"] == "predict_proba"
        self._binary = bool(spec["binary"])
        self._class_indices = [int(i) for i in spec["class_indices"]]
        self._calibrators = [
            _Sigmoid(c) if c["type"] == "sigmoid" else _Isotonic(c, reader)
            for c in spec["calibrators"]
        ]
        self._n_classes = n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        predictions = self._response(X)
        if self._binary and self._proba:  # _process_predict_proba: classes_[-1]'s column
            predictions = predictions[:, -1]
        if predictions.ndim == 1:
            predictions = predictions.reshape(-1, 1)
        n_classes = self._n_classes
        proba = np.zeros((X.shape[0], n_classes))
        for class_idx, this_pred, calibrator in zip(
            self._class_indices, predictions.T, self._calibrators, strict=False
        ):
            if n_classes == 2:
                class_idx += 1
            proba[:, class_idx] = calibrator.predict(this_pred)
        if n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            uniform_proba = np.full_like(proba, 1 / n_classes)
            proba = np.divide(proba, denominator, out=uniform_proba, where=denominator != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba


class CalibratedClassifierHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = load_classes(spec["classes"], reader)
        self._labels = self.classes
        n_classes = len(self._labels)
        self._pairs = [_CalibratedPair(pair, reader, n_classes) for pair in spec["calibrated"]]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """CalibratedClassifierCV.predict_proba: the arithmetic mean of the pairs'."""
        mean_proba = np.zeros((X.shape[0], len(self._labels)))
        for pair in self._pairs:
            mean_proba += pair.predict_proba(X)
        mean_proba /= len(self._pairs)
        return mean_proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._labels[np.argmax(self.predict_proba(X), axis=1)]


def load_calibrated(spec: Spec, reader: PlanReader) -> Head:
    return CalibratedClassifierHead(spec, reader)


PLANNERS: dict[str, Planner] = {"sklearn.calibration.CalibratedClassifierCV": plan_calibrated}
LOADERS: dict[str, Loader] = {KIND: load_calibrated}
