"""Plan family _stacking: StackingClassifier and StackingRegressor
(sklearn/ensemble/_stacking.py), over the planned estimators it keeps (`estimators_`, the
'drop' ones left out) and its planned `final_estimator_`.

The stacked features are `_BaseStacking._transform`: each estimator's `stack_method_` (the
resolved method, 'auto' already chosen at fit) on X; a 1-D output as one column; for two
classes a `predict_proba` without its first column; X itself last with `passthrough`;
joined by `np.hstack` (C order, the dtype numpy's promotion gives: integers when every
estimator predicts labels and X is not passed through). The final estimator is handed them as
float64, as its own input check converts them. The classifier's parts and final estimator
were fitted on the label-encoded target: its predictions are positions in `classes_`, mapped
back as `_label_encoder.inverse_transform` does. Multilabel stacking is not planned.
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
from chalicelib.scoring.plans._parts import bound, load_part, plan_part

KIND = "stacking"
_METHODS = ("predict", "predict_proba", "decision_function")

# --- planning (register time: reads fitted attributes, imports nothing) ---------------


def _plan_stack(estimator: Any, writer: PlanWriter, final_methods: list[str]) -> Spec:
    wrapper = type(estimator).__name__
    names = [name for name, part in estimator.estimators if not _is_drop(part)]
    methods = [str(method) for method in estimator.stack_method_]
    for method in methods:
        if method not in _METHODS:
            raise Unplannable(f"{wrapper} with stack_method {method!r} is not planned")
    parts = [
        plan_part(part, writer, wrapper=wrapper, part=f"estimator {name!r}", methods=[method])
        for name, part, method in zip(names, estimator.estimators_, methods, strict=True)
    ]
    final = plan_part(
        estimator.final_estimator_,
        writer,
        wrapper=wrapper,
        part="final_estimator_",
        methods=final_methods,
    )
    return {
        "kind": KIND,
        "estimators": parts,
        "stack_methods": methods,
        "passthrough": bool(estimator.passthrough),
        "final": final,
        "final_methods": final_methods,
    }


def _is_drop(part: Any) -> bool:
    return isinstance(part, str) and part == "drop"


def plan_stacking_classifier(estimator: Any, writer: PlanWriter) -> Spec:
    if isinstance(estimator.classes_, list):
        raise Unplannable(
            "StackingClassifier fitted on multilabel targets is not planned: only binary "
            "and multiclass labels are"
        )
    methods = [m for m in ("predict_proba", "decision_function") if hasattr(estimator, m)]
    return {
        **_plan_stack(estimator, writer, methods),
        "classes": add_classes(estimator.classes_, writer),
    }


def plan_stacking_regressor(estimator: Any, writer: PlanWriter) -> Spec:
    return _plan_stack(estimator, writer, [])


# --- serving (numpy only) -------------------------------------------------------------


class StackingRegressorHead:
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.classes: np.ndarray | None = None
        self._parts: list[Head] = [load_part(part, reader) for part in spec["estimators"]]
        self._methods = [str(method) for method in spec["stack_methods"]]
        self._passthrough = bool(spec["passthrough"])
        self._final = load_part(spec["final"], reader)
        self._n_classes = 0

    def transform(self, X: np.ndarray) -> np.ndarray:
        """_BaseStacking._transform and `_concatenate_predictions`."""
        predictions = [
            bound(head, method)(X) for head, method in zip(self._parts, self._methods, strict=True)
        ]
        X_meta = []
        for preds, method in zip(predictions, self._methods, strict=True):
            if preds.ndim == 1:
                X_meta.append(preds.reshape(-1, 1))
            elif method == "predict_proba" and self._n_classes == 2:
                X_meta.append(preds[:, 1:])
            else:
                X_meta.append(preds)
        if self._passthrough:
            X_meta.append(X)
        return np.hstack(X_meta)

    def _final_input(self, X: np.ndarray) -> np.ndarray:
        """The stacked features as the final estimator's check_array makes them: float64."""
        stacked = self.transform(X)
        return stacked if stacked.dtype == np.float64 else stacked.astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._final.predict(self._final_input(X))


class StackingClassifierHead(StackingRegressorHead):
    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        super().__init__(spec, reader)
        self.classes = load_classes(spec["classes"], reader)
        self._labels = self.classes
        self._n_classes = len(self._labels)
        self._final_methods = [str(method) for method in spec["final_methods"]]

    def _final_method(self, method: str) -> Callable[[np.ndarray], np.ndarray]:
        """The final estimator's method on the stacked features, where the stacking
        classifier has it (scikit-learn's `available_if` on final_estimator_)."""
        if method not in self._final_methods:
            raise AttributeError(f"this StackingClassifier has no {method}")
        final = bound(self._final, method)
        return lambda X: final(self._final_input(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._labels[self._final.predict(self._final_input(X))]

    @property
    def predict_proba(self) -> Callable[[np.ndarray], np.ndarray]:
        return self._final_method("predict_proba")

    @property
    def decision_function(self) -> Callable[[np.ndarray], np.ndarray]:
        return self._final_method("decision_function")


def load_stacking(spec: Spec, reader: PlanReader) -> Head:
    if "classes" in spec:
        return StackingClassifierHead(spec, reader)
    return StackingRegressorHead(spec, reader)


_MODULE = "sklearn.ensemble._stacking."
PLANNERS: dict[str, Planner] = {
    _MODULE + "StackingClassifier": plan_stacking_classifier,
    _MODULE + "StackingRegressor": plan_stacking_regressor,
}
LOADERS: dict[str, Loader] = {KIND: load_stacking}
