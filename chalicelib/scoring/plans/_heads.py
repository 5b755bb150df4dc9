"""The table from fitted estimators to plan families, and back from specs to heads.

Each family module holds `PLANNERS` (the estimator's class, as "module.Class" of where
scikit-learn defines it, to its planner) and `LOADERS` (its spec kinds to their loaders).
Looking an estimator up reads its class's module and name only: nothing is imported for it.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from chalicelib.scoring.plans._format import (
    Head,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unplannable,
)

# Meta-estimators, planned over their parts (`_parts`).
_WRAPPERS = ("_multiclass", "_calibration", "_voting", "_stacking", "_target")
_FAMILIES = ("_linear", "_bayes", "_mlp", "_trees", "_hgb", *_WRAPPERS)


@cache
def _tables() -> tuple[dict[str, Planner], dict[str, Loader]]:
    planners: dict[str, Planner] = {}
    loaders: dict[str, Loader] = {}
    for family in _FAMILIES:
        module = importlib.import_module(f"chalicelib.scoring.plans.{family}")
        planners.update(module.PLANNERS)
        loaders.update(module.LOADERS)
    return planners, loaders


@cache
def _wrapper_kinds() -> frozenset[str]:
    return frozenset(
        kind
        for family in _WRAPPERS
        for kind in importlib.import_module(f"chalicelib.scoring.plans.{family}").LOADERS
    )


def checks_input_in_parts(spec: Spec) -> bool:
    """Whether the spec is a wrapper's. scikit-learn's meta-estimators hand X to their parts
    without checking it (whatever their own allow_nan tag says), and each part refuses NaN
    or not by itself: so do their heads."""
    return str(spec.get("kind")) in _wrapper_kinds()


def class_path(estimator: Any) -> str:
    """'sklearn.linear_model._logistic.LogisticRegression' for a LogisticRegression."""
    cls = type(estimator)
    return f"{cls.__module__}.{cls.__qualname__}"


def plan_head(estimator: Any, writer: PlanWriter) -> Spec:
    """The spec of a fitted final estimator; Unplannable when no family covers it."""
    planner = _tables()[0].get(class_path(estimator))
    if planner is None:
        raise Unplannable(f"{type(estimator).__name__} has no serving plan")
    return planner(estimator, writer)


def load_head(spec: Spec, reader: PlanReader) -> Head:
    """The head of a spec that `plan_head` made."""
    loader = _tables()[1].get(str(spec.get("kind")))
    if loader is None:
        raise Unplannable(f"plan kind {spec.get('kind')!r} is not known to this runtime")
    return loader(spec, reader)
