"""Plan family _voting: VotingClassifier (hard and soft) and VotingRegressor
(sklearn/ensemble/_voting.py), over the planned estimators it keeps (`estimators_`, the
'drop' ones left out, weights as `_weights_not_none` keeps them).

The classifier's parts are fitted on the label-encoded target, so their predictions are the
positions 0..n_classes-1 in `classes_`:
- hard: per row, `np.argmax(np.bincount(predictions, weights=weights))` (the weights summed
  into each class in estimator order, from 0; the first largest; the bins only up to the
  row's largest prediction), then `le_.inverse_transform`;
- soft: `np.average` of the stacked `predict_proba` arrays over the estimators, with the
  weights; the prediction is the class of the first largest average.
The regressor is `np.average` of the predictions, one column per estimator, with the weights.
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
from chalicelib.scoring.plans._parts import bound, load_part, plain_numbers, plan_part

KIND = "voting"

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def _kept_names(estimator: Any) -> list[str]:
    """The names of the estimators that were fitted, in `estimators_` order."""
    return [name for name, part in estimator.estimators if not _is_drop(part)]


def _is_drop(part: Any) -> bool:
    return isinstance(part, str) and part == "drop"


def _weights(estimator: Any) -> list[float | int] | None:
    """`_BaseVoting._weights_not_none`."""
    if estimator.weights is None:
        return None
    pairs = zip(estimator.estimators, estimator.weights, strict=False)
    kept = [weight for (_, part), weight in pairs if not _is_drop(part)]
    return plain_numbers(kept, f"{type(estimator).__name__} weight")


def _parts(estimator: Any, writer: PlanWriter, methods: list[str]) -> list[Spec]:
    wrapper = type(estimator).__name__
    return [
        plan_part(part, writer, wrapper=wrapper, part=f"estimator {name!r}", methods=methods)
        for name, part in zip(_kept_names(estimator), estimator.estimators_, strict=True)
    ]


def plan_voting_classifier(estimator: Any, writer: PlanWriter) -> Spec:
    voting = str(estimator.voting)
    if voting not in ("hard", "soft"):
        raise Unplannable(f"VotingClassifier with voting={voting!r} is not planned")
    methods = ["predict_proba"] if voting == "soft" else ["predict"]
    return {
        "kind": KIND,
        "classes": add_classes(estimator.classes_, writer),
        "voting": voting,
        "weights": _weights(estimator),
        "estimators": _parts(estimator, writer, methods),
    }


def plan_voting_regressor(estimator: Any, writer: PlanWriter) -> Spec:
    return {
        "kind": KIND,
        "weights": _weights(estimator),
        "estimators": _parts(estimator, writer, ["predict"]),
    }


# --- serving (numpy only) -------------------------------------------------------------


class VotingRegressorHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = None
        self._parts: list[Head] = [load_part(part, reader) for part in spec["estimators"]]
        self._weights = spec["weights"]

    def _predictions(self, X: np.ndarray) -> np.ndarray:
        """_BaseVoting._predict: the parts' predictions, one column each."""
        return np.asarray([head.predict(X) for head in self._parts]).T

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.average(self._predictions(X), axis=1, weights=self._weights)


class VotingClassifierHead(VotingRegressorHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self.classes = load_classes(spec["classes"], reader)
        self._labels = self.classes
        self._soft = spec["voting"] == "soft"

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._soft:
            maj = np.argmax(self._predict_proba(X), axis=1)
        else:
            maj = self._hard_votes(self._predictions(X))
        return self._labels[maj]

    def _hard_votes(self, predictions: np.ndarray) -> np.ndarray:
        """`np.argmax(np.bincount(row, weights=weights))` for every row at once."""
        predictions = np.asarray(predictions)
        if predictions.dtype.kind not in "iub" or (predictions.size and predictions.min() < 0):
            raise TypeError("hard voting counts non-negative integer predictions only")
        n_rows, n_parts = predictions.shape
        n_bins = int(predictions.max()) + 1
        counts = np.zeros((n_rows, n_bins), dtype=np.float64)
        rows = np.arange(n_rows)
        for j in range(n_parts):
            counts[rows, predictions[:, j]] += 1.0 if self._weights is None else self._weights[j]
        # bincount's length is the row's largest prediction + 1: no empty bins beyond it.
        beyond = np.arange(n_bins)[np.newaxis, :] > predictions.max(axis=1)[:, np.newaxis]
        counts[beyond] = -np.inf
        return np.argmax(counts, axis=1)

    @property
    def predict_proba(self) -> Callable[[np.ndarray], np.ndarray]:
        if not self._soft:
            raise AttributeError("predict_proba is not available when voting='hard'")
        return self._predict_proba

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        probas = np.asarray([bound(head, "predict_proba")(X) for head in self._parts])
        return np.average(probas, axis=0, weights=self._weights)


def load_voting(spec: Spec, reader: PlanReader) -> Head:
    if "classes" in spec:
        return VotingClassifierHead(spec, reader)
    return VotingRegressorHead(spec, reader)


_MODULE = "sklearn.ensemble._voting."
PLANNERS: dict[str, Planner] = {
    _MODULE + "VotingClassifier": plan_voting_classifier,
    _MODULE + "VotingRegressor": plan_voting_regressor,
}
LOADERS: dict[str, Loader] = {KIND: load_voting}
