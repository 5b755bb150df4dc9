"""Plan family _multiclass: OneVsRestClassifier (sklearn/multiclass.py), binary and
multiclass, over planned binary estimators (one per class; one for two classes).

Each method replays OneVsRestClassifier's own, step by step:
- predict: `_predict_binary` of each estimator (predict of a regressor, else
  `decision_function` raveled, else `predict_proba[:, 1]`); multiclass keeps the running
  maximum over the estimators in reverse order (numpy's first-maximum tie-break), binary
  thresholds the one score (`_threshold_for_binary_predict`: 0 for a classifier with
  decision_function, else 0.5) and maps it through the LabelBinarizer's inverse;
- predict_proba: each estimator's `predict_proba[:, 1]` as columns, `[1 - p, p]` for one
  estimator, rows with a nonzero sum divided by it;
- decision_function: the one estimator's own, or the raveled ones as columns.
Multilabel targets are not planned.
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
from chalicelib.scoring.plans._parts import bound, estimator_type, load_part, plan_part

KIND = "one_vs_rest"
_WRAPPER = "OneVsRestClassifier"


def _binary_score_method(estimator: Any) -> str:
    """The method `_predict_binary` calls on this estimator."""
    if estimator_type(estimator) == "regressor":
        return "predict"
    return "decision_function" if hasattr(estimator, "decision_function") else "predict_proba"


def plan_one_vs_rest(estimator: Any, writer: PlanWriter) -> Spec:
    y_type = str(estimator.label_binarizer_.y_type_)
    if y_type not in ("binary", "multiclass"):
        raise Unplannable(
            f"{_WRAPPER} fitted on {y_type} targets: only binary and multiclass labels are "
            "planned (a multilabel prediction is a set of labels per row)"
        )
    has_proba = hasattr(estimator, "predict_proba")
    has_decision = hasattr(estimator, "decision_function")
    parts, scores = [], []
    labels = np.asarray(estimator.classes_).tolist()  # plain labels, for the reasons
    if y_type == "binary":  # one estimator, for the LabelBinarizer's positive class
        labels = labels[1:]
    for index, part in enumerate(estimator.estimators_):
        score = _binary_score_method(part)
        methods = {score}
        if has_proba:
            methods.add("predict_proba")
        if has_decision:
            methods.add("decision_function")
        parts.append(
            plan_part(
                part,
                writer,
                wrapper=_WRAPPER,
                part=f"estimator for class {labels[index]!r}",
                methods=sorted(methods),
            )
        )
        scores.append(score)
    first = estimator.estimators_[0]
    threshold = (
        0.0
        if hasattr(first, "decision_function") and estimator_type(first) == "classifier"
        else 0.5
    )
    return {
        "kind": KIND,
        "classes": add_classes(estimator.classes_, writer),
        "multiclass": y_type == "multiclass",
        "estimators": parts,
        "scores": scores,
        "threshold": threshold,
        "has_proba": has_proba,
        "has_decision": has_decision,
    }


class OneVsRestHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = load_classes(spec["classes"], reader)
        self._labels = self.classes
        self._multiclass = bool(spec["multiclass"])
        self._parts: list[Head] = [load_part(part, reader) for part in spec["estimators"]]
        self._scores = [str(score) for score in spec["scores"]]
        self._threshold = float(spec["threshold"])
        self._has_proba = bool(spec["has_proba"])
        self._has_decision = bool(spec["has_decision"])

    def _binary_scores(self, head: Head, score: str, X: np.ndarray) -> np.ndarray:
        """multiclass.py `_predict_binary`."""
        if score == "predict":
            return head.predict(X)
        if score == "decision_function":
            return np.ravel(bound(head, score)(X))
        return bound(head, "predict_proba")(X)[:, 1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        n_samples = X.shape[0]
        if self._multiclass:
            maxima = np.empty(n_samples, dtype=float)
            maxima.fill(-np.inf)
            argmaxima = np.zeros(n_samples, dtype=int)
            n_classes = len(self._parts)
            pairs = list(zip(self._parts, self._scores, strict=True))
            for i, (head, score) in enumerate(reversed(pairs)):
                pred = self._binary_scores(head, score, X)
                np.maximum(maxima, pred, out=maxima)
                argmaxima[maxima == pred] = n_classes - i - 1
            return self._labels[argmaxima]
        scores = self._binary_scores(self._parts[0], self._scores[0], X)
        return self._labels[(scores > self._threshold).astype(np.intp)]

    @property
    def predict_proba(self) -> Callable[[np.ndarray], np.ndarray]:
        if not self._has_proba:
            raise AttributeError("this OneVsRestClassifier has no predict_proba")
        return self._predict_proba

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        Y = np.array([bound(head, "predict_proba")(X)[:, 1] for head in self._parts]).T
        if len(self._parts) == 1:
            Y = np.concatenate(((1 - Y), Y), axis=1)
        row_sums = np.sum(Y, axis=1)[:, np.newaxis]
        np.divide(Y, row_sums, out=Y, where=row_sums != 0)
        return Y

    @property
    def decision_function(self) -> Callable[[np.ndarray], np.ndarray]:
        if not self._has_decision:
            raise AttributeError("this OneVsRestClassifier has no decision_function")
        return self._decision_function

    def _decision_function(self, X: np.ndarray) -> np.ndarray:
        if len(self._parts) == 1:
            return bound(self._parts[0], "decision_function")(X)
        return np.array([bound(head, "decision_function")(X).ravel() for head in self._parts]).T


def load_one_vs_rest(spec: Spec, reader: PlanReader) -> Head:
    return OneVsRestHead(spec, reader)


PLANNERS: dict[str, Planner] = {"sklearn.multiclass.OneVsRestClassifier": plan_one_vs_rest}
LOADERS: dict[str, Loader] = {KIND: load_one_vs_rest}
