"""GradientBoostingClassifier / Regressor (sklearn/ensemble/_gb.py) as a plan.

raw = init raw prediction + sum over stages, in order, of `learning_rate * value[leaf]` per
class column (sklearn/ensemble/_gradient_boosting.pyx, `predict_stages`). The init's raw
prediction is a constant row for the default init (DummyClassifier prior, DummyRegressor
mean or quantile) and for init='zero'; another init estimator predicts from X with a model
of its own, which this plan does not carry, so it is refused.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.scoring.plans._boosting_links import binary_proba, raw_scale, scale_of, softmax
from chalicelib.scoring.plans._format import (
    REGISTERED_BEFORE_EXPLANATIONS,
    PlanReader,
    PlanWriter,
    Spec,
    Unexplainable,
    Unplannable,
)
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._sklearn_nodes import (
    node_values,
    read_covers,
    read_nodes,
    write_nodes,
)
from chalicelib.scoring.plans._tree_walk import (
    as_float32_values,
    check_width,
    iter_leaves,
)

if TYPE_CHECKING:
    from chalicelib.scoring.plans._tree_shap import TreeShap

KIND = "sklearn_gradient_boosting"

# The classifier's loss (sklearn/ensemble/_gb.py `_get_loss`) to its inverse link
# (sklearn/_loss/loss.py `predict_proba`).
_CLASSIFIER_LINKS = {
    "HalfBinomialLoss": "logit",
    "ExponentialLoss": "half_logit",
    "HalfMultinomialLoss": "softmax",
}


def plan_gradient_boosting(estimator: Any, writer: PlanWriter) -> Spec:
    name = type(estimator).__name__
    _require_default_init(estimator, name)
    classes = getattr(estimator, "classes_", None)
    link = "identity" if classes is None else _classifier_link(estimator, name)
    stages = estimator.estimators_  # (n_stages, K) regression trees
    trees = [stages[i, k] for i in range(stages.shape[0]) for k in range(stages.shape[1])]
    spec: Spec = {
        "kind": KIND,
        "name": name,
        "n_features": int(estimator.n_features_in_),
        "learning_rate": float(estimator.learning_rate),
        "per_stage": int(stages.shape[1]),
        "baseline": writer.add(_init_raw_prediction(estimator), "baseline"),
        "nodes": write_nodes(trees, writer),
        "values": writer.add(node_values(trees, classifier=False), "values"),
        "link": link,
        "raw_scale": raw_scale(estimator),
    }
    if classes is not None:
        spec["classes"] = add_classes(classes, writer)
    return spec


def _require_default_init(estimator: Any, name: str) -> None:
    init = estimator.init
    if init is None or (isinstance(init, str) and init == "zero"):
        return
    raise Unplannable(
        f"{name} has init={type(init).__name__}: its raw predictions start from that "
        "estimator's own predictions, which the plan does not carry (only the default "
        "init or 'zero' is planned)"
    )


def _classifier_link(estimator: Any, name: str) -> str:
    loss = type(estimator._loss).__name__
    if loss not in _CLASSIFIER_LINKS:
        raise Unplannable(f"{name} with loss {loss}: its probabilities are not planned")
    return _CLASSIFIER_LINKS[loss]


def _init_raw_prediction(estimator: Any) -> np.ndarray:
    """The init's raw prediction for one row, computed by the estimator itself
    (`_raw_predict_init`: the prior or mean clipped and linked as scikit-learn does, with
    scipy's logit), so the plan starts from the very same float64 values. It does not
    depend on the row for the inits allowed above."""
    row = np.zeros((1, int(estimator.n_features_in_)), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a frame-fitted estimator warns about names
        return np.asarray(estimator._raw_predict_init(row), dtype=np.float64)[0]


class GradientBoostingHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.name = str(spec["name"])
        self.n_features = int(spec["n_features"])
        self.per_stage = int(spec["per_stage"])
        self.baseline = reader[spec["baseline"]].astype(np.float64)
        self.table = read_nodes(spec["nodes"], reader)
        # `scale * value[node]` of predict_stages, one product per node.
        self.scaled = float(spec["learning_rate"]) * reader[spec["values"]].astype(np.float64)
        self.link = str(spec["link"])
        self.classes = load_classes(spec["classes"], reader) if "classes" in spec else None
        self.covers = read_covers(spec["nodes"], reader)
        self.raw_scale = scale_of(spec)
        self._shap: TreeShap | None = None

    def _routed(self, X: np.ndarray) -> np.ndarray:
        # _gb.py validates X with the default ensure_all_finite=True: NaN is refused.
        return as_float32_values(check_width(X, self.n_features, self.name), allow_nan=False)

    def _raw(self, X: np.ndarray) -> np.ndarray:
        X = self._routed(X)
        raw = np.tile(self.baseline, (X.shape[0], 1))
        for first, leaves in iter_leaves(self.table, X):
            for offset, tree_leaves in enumerate(leaves):
                column = (first + offset) % self.per_stage
                raw[:, column] += np.take(self.scaled, tree_leaves)
        return raw

    def raw_output(self, X: np.ndarray) -> np.ndarray:
        """The raw prediction before the inverse link, (rows, 1) or (rows, n_classes)."""
        return self._raw(X)

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path-dependent SHAP values of the raw prediction. As shap's TreeExplainer: base is
        the init's raw prediction plus each tree's expected value, trees' values scaled by the
        learning rate (its SingleTree `scaling`)."""
        if self.covers is None:
            raise Unexplainable(REGISTERED_BEFORE_EXPLANATIONS)
        if self._shap is None:
            # Only explaining needs it: loading a plan to answer stays as cheap as before.
            from chalicelib.scoring.plans._tree_shap import TreeShap

            self._shap = TreeShap(
                self.table, self.covers, self.scaled, self.n_features, self.per_stage
            )
        contributions = self._shap.contributions(self._routed(X))
        return self.baseline + self._shap.expected_value(), contributions

    def predict(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        if self.classes is None:
            return raw.ravel()
        if raw.shape[1] == 1:  # GradientBoostingClassifier.predict: ">= 0" picks classes_[1]
            return self.classes[(raw.ravel() >= 0).astype(int)]
        return self.classes[np.argmax(raw, axis=1)]


class GradientBoostingClassifierHead(GradientBoostingHead):
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        return raw.ravel() if raw.shape[1] == 1 else raw

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        if self.link == "softmax":
            return softmax(raw)
        return binary_proba(raw.ravel(), 2.0 if self.link == "half_logit" else 1.0)


def load_gradient_boosting(spec: Spec, reader: PlanReader) -> GradientBoostingHead:
    if "classes" in spec:
        return GradientBoostingClassifierHead(spec, reader)
    return GradientBoostingHead(spec, reader)
