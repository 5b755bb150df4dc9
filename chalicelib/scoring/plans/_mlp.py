"""Plan family _mlp: MLPClassifier and MLPRegressor
(sklearn/neural_network/_multilayer_perceptron.py).

The forward pass is `_forward_pass_fast`: for each layer `activation @ coefs_[i]`, plus
`intercepts_[i]`, then the hidden activation (the output activation after the last), each as
sklearn/neural_network/_base.py computes it; SciPy's expit is replayed by `_special.expit`.
Classes come from the label binarizer's inverse transform (sklearn/preprocessing/_label.py).
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
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._linear import add_in_memory_order, read_in_memory_order
from chalicelib.scoring.plans._special import check_matrix, expit, expit_numpy

KIND = "mlp"


def _identity(X: np.ndarray) -> np.ndarray:
    return X


def _logistic(X: np.ndarray) -> np.ndarray:
    return expit(X)


def _hidden_logistic(X: np.ndarray) -> np.ndarray:
    return expit_numpy(X)


def _exp(X: np.ndarray) -> np.ndarray:
    """The output of MLPRegressor(loss="poisson")."""
    return np.exp(X, out=X)


def _tanh(X: np.ndarray) -> np.ndarray:
    return np.tanh(X, out=X)


def _relu(X: np.ndarray) -> np.ndarray:
    return np.maximum(X, 0, out=X)


def _softmax(X: np.ndarray) -> np.ndarray:
    """inplace_softmax of sklearn/neural_network/_base.py, step by step."""
    tmp = X - X.max(axis=1)[:, np.newaxis]
    np.exp(tmp, out=X)
    X /= X.sum(axis=1)[:, np.newaxis]
    return X


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": _identity,
    "exp": _exp,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
    "softmax": _softmax,
}

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def _layers(estimator: Any, writer: PlanWriter) -> Spec:
    name = type(estimator).__name__
    for activation in (estimator.activation, estimator.out_activation_):
        if activation not in ACTIVATIONS:
            raise Unplannable(f"{name} with activation {activation!r} has no serving plan")
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    if any(array.dtype != np.float64 for array in [*coefs, *intercepts]):
        raise Unplannable(
            f"{name} has float32 layers (fitted on float32 data): only float64 layers are planned"
        )
    return {
        "kind": KIND,
        "n_features": int(coefs[0].shape[0]),
        "coefs": [add_in_memory_order(coef, writer, "coef") for coef in coefs],
        "intercepts": [writer.add(intercept, "intercept") for intercept in intercepts],
        "activation": str(estimator.activation),
        "out_activation": str(estimator.out_activation_),
    }


def plan_classifier(estimator: Any, writer: PlanWriter) -> Spec:
    binarizer = estimator._label_binarizer
    if binarizer.y_type_ not in ("binary", "multiclass"):
        raise Unplannable(
            f"MLPClassifier fitted on {binarizer.y_type_} targets: only binary and "
            "multiclass labels are planned"
        )
    if len(estimator.classes_) < 2:
        raise Unplannable("MLPClassifier fitted on a single class")
    return {
        **_layers(estimator, writer),
        "classes": add_classes(estimator.classes_, writer),
        "multiclass": binarizer.y_type_ == "multiclass",
        "threshold": (binarizer.pos_label + binarizer.neg_label) / 2.0,
    }


def plan_regressor(estimator: Any, writer: PlanWriter) -> Spec:
    return {**_layers(estimator, writer), "classes": None}


# --- serving (numpy only) -------------------------------------------------------------


class MLPRegressorHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = None
        self._n_features = int(spec["n_features"])
        self._coefs = [read_in_memory_order(coef, reader) for coef in spec["coefs"]]
        self._intercepts = [reader[key] for key in spec["intercepts"]]
        # A hidden layer's ulps only nudge the outputs (within 1e-9): numpy's exp is
        # used there, SciPy's exact one at the output, where 1 - p can cancel.
        hidden = spec["activation"]
        self._hidden = _hidden_logistic if hidden == "logistic" else ACTIVATIONS[hidden]
        self._output = ACTIVATIONS[spec["out_activation"]]

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """BaseMultilayerPerceptron._forward_pass_fast."""
        check_matrix(X, self._n_features)
        activation = X
        last = len(self._coefs) - 1
        for i, (coef, intercept) in enumerate(zip(self._coefs, self._intercepts, strict=True)):
            activation = activation @ coef
            activation += intercept
            if i != last:
                activation = self._hidden(activation)
        return self._output(activation)

    def predict(self, X: np.ndarray) -> np.ndarray:
        y_pred = self._forward(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred


class MLPClassifierHead(MLPRegressorHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self._labels = load_classes(spec["classes"], reader)
        self.classes = self._labels
        self._multiclass = bool(spec["multiclass"])
        self._threshold = float(spec["threshold"])

    def _outputs(self, X: np.ndarray) -> np.ndarray:
        y_pred = self._forward(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def predict(self, X: np.ndarray) -> np.ndarray:
        """LabelBinarizer.inverse_transform: the largest output, or the threshold for two."""
        y_pred = self._outputs(X)
        if self._multiclass:
            return self._labels[np.argmax(y_pred, axis=1)]
        return self._labels[(y_pred > self._threshold).astype(np.intp).reshape(-1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        y_pred = self._outputs(X)
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred


def load_mlp(spec: Spec, reader: PlanReader) -> Head:
    if spec["classes"] is None:
        return MLPRegressorHead(spec, reader)
    return MLPClassifierHead(spec, reader)


_MODULE = "sklearn.neural_network._multilayer_perceptron"
PLANNERS: dict[str, Planner] = {
    f"{_MODULE}.MLPClassifier": plan_classifier,
    f"{_MODULE}.MLPRegressor": plan_regressor,
}
LOADERS: dict[str, Loader] = {KIND: load_mlp}
