"""The parts of a meta-estimator (the wrapped classifiers of OneVsRest, calibration, voting
and stacking; the regressor of TransformedTargetRegressor), planned and loaded with the same
table as a final estimator (`_heads.plan_head` / `load_head`).

A wrapper calls its parts' methods by name, as scikit-learn does (`decision_function`,
`predict_proba`, `predict`), so each part is checked at register: its plan is loaded back from
the arrays written so far and must have the method the wrapper calls. A part that has no plan
makes the whole wrapper Unplannable, with the part named in the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chalicelib.scoring.plans._format import Head, PlanReader, PlanWriter, Spec, Unplannable
from chalicelib.scoring.plans._heads import class_path, load_head, plan_head

_PIPELINES = ("sklearn.pipeline.Pipeline",)
# scikit-learn's FrozenEstimator (sklearn/frozen/_frozen.py) only forwards to the estimator
# it holds: the part planned is that estimator.
_FROZEN = "sklearn.frozen._frozen.FrozenEstimator"


def plan_part(
    estimator: Any,
    writer: PlanWriter,
    *,
    wrapper: str,
    part: str,
    methods: Iterable[str] = (),
) -> Spec:
    """The spec of one part of `wrapper`, whose plan must answer `methods` besides predict."""
    if class_path(estimator) == _FROZEN:
        estimator = estimator.estimator
    name = type(estimator).__name__
    if class_path(estimator) in _PIPELINES:
        raise Unplannable(
            f"{wrapper}: its {part} is a Pipeline, and a pipeline inside {wrapper} is not "
            "planned (only a pipeline's final estimator may be a wrapper)"
        )
    try:
        spec = plan_head(estimator, writer)
    except Unplannable as reason:
        raise Unplannable(f"{wrapper}: its {part} ({name}) is not planned: {reason}") from None
    head = load_head(spec, PlanReader(writer.arrays))
    for method in methods:
        if not hasattr(estimator, method):
            raise Unplannable(
                f"{wrapper}: its {part} ({name}) has no {method}, which {wrapper} calls: "
                "the wrapper cannot predict, so it is not planned"
            )
        if not hasattr(head, method):
            raise Unplannable(
                f"{wrapper}: its {part} ({name}) is used through {method}, which its plan "
                "does not have"
            )
    return spec


def estimator_type(estimator: Any) -> str | None:
    """scikit-learn's `is_classifier` / `is_regressor` answer (sklearn/base.py): the
    estimator's own tags, read without importing scikit-learn."""
    try:
        return estimator.__sklearn_tags__().estimator_type
    except AttributeError:
        return None


def response_method(estimator: Any, preferred: Iterable[str]) -> str:
    """sklearn.utils.validation._check_response_method: the first of `preferred` that the
    fitted estimator has (its `available_if` checks run through hasattr)."""
    names = list(preferred)
    for method in names:
        if hasattr(estimator, method):
            return method
    raise Unplannable(f"{type(estimator).__name__} has none of {', '.join(names)}")


def classes_index(parent: Any, child: Any) -> list[int]:
    """The position in `parent` of each of `child`'s labels (LabelEncoder(parent).transform
    of child, as calibration finds a part's classes among the wrapper's)."""
    parents = np.asarray(parent).tolist()
    try:
        return [parents.index(label) for label in np.asarray(child).tolist()]
    except ValueError:
        raise Unplannable("a part has a class the wrapper does not know") from None


def plain_numbers(values: Iterable[Any], what: str) -> list[float | int]:
    """Weights as JSON numbers, ints kept as ints (numpy averages them in float64 either way)."""
    numbers: list[float | int] = []
    for value in values:
        item = value.item() if isinstance(value, np.generic) else value
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise Unplannable(f"{what} {value!r} is not a plain number")
        numbers.append(item)
    return numbers


def bound(head: Head, method: str) -> Callable[[np.ndarray], np.ndarray]:
    """The part's method as a function of X."""
    return getattr(head, method)


def load_part(spec: Spec, reader: PlanReader) -> Head:
    return load_head(spec, reader)
