"""Plan family _trees: scikit-learn's decision trees, extra trees, random forests, extra-trees
forests and gradient boosting (`GradientBoostingClassifier` / `Regressor`).

Every tree compares the float32 value of a feature with a float64 threshold and sends NaN to
its `missing_go_to_left` side (sklearn/tree/_tree.pyx, `_apply_dense`); `_tree_walk` descends
all trees at once. How leaves combine follows each estimator's own `predict`:

- a tree: its leaf's class fractions or value (sklearn/tree/_classes.py);
- a forest: the trees' leaf outputs summed in tree order into zeros, then divided by the
  number of trees (sklearn/ensemble/_forest.py, `_accumulate_prediction`);
- gradient boosting: the init estimator's raw prediction, plus `learning_rate * value` of
  each stage's tree in stage order (sklearn/ensemble/_gradient_boosting.pyx,
  `predict_stages`), then the loss's inverse link (`_gb_heads`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from chalicelib.scoring.plans._format import (
    REGISTERED_BEFORE_EXPLANATIONS,
    Loader,
    Planner,
    PlanReader,
    PlanWriter,
    Spec,
    Unexplainable,
)
from chalicelib.scoring.plans._gb_heads import load_gradient_boosting, plan_gradient_boosting
from chalicelib.scoring.plans._labels import add_classes, load_classes
from chalicelib.scoring.plans._sklearn_nodes import (
    allows_nan,
    node_values,
    read_covers,
    read_nodes,
    require_single_output,
    write_nodes,
)
from chalicelib.scoring.plans._tree_walk import (
    NodeTable,
    as_float32_values,
    check_width,
    iter_leaves,
)

if TYPE_CHECKING:
    from chalicelib.scoring.plans._tree_shap import TreeShap

_KIND = "sklearn_trees"


def plan_tree(estimator: Any, writer: PlanWriter) -> Spec:
    """A single decision (or extra) tree: a one-tree plan whose leaves are not averaged."""
    return _plan(estimator, [estimator], writer, average=False, allow_nan=allows_nan(estimator))


def plan_forest(estimator: Any, writer: PlanWriter) -> Spec:
    """A forest: the trees in `estimators_` order; NaN is let through as the forest's
    `_validate_X_predict` lets it, by its first tree's tag."""
    trees = list(estimator.estimators_)
    return _plan(estimator, trees, writer, average=True, allow_nan=allows_nan(trees[0]))


def _plan(
    estimator: Any, trees: list[Any], writer: PlanWriter, *, average: bool, allow_nan: bool
) -> Spec:
    require_single_output(estimator)
    classes = getattr(estimator, "classes_", None)
    spec: Spec = {
        "kind": _KIND,
        "name": type(estimator).__name__,
        "n_features": int(estimator.n_features_in_),
        "allow_nan": allow_nan,
        "average": average,
        "nodes": write_nodes(trees, writer),
        "values": writer.add(node_values(trees, classes is not None), "values"),
    }
    if classes is not None:
        spec["classes"] = add_classes(classes, writer)
    return spec


class TreesHead:
    """A tree or a forest of scikit-learn trees; a classifier when it has classes."""

    def __init__(self, spec: Spec, reader: PlanReader) -> None:
        self.name = str(spec["name"])
        self.n_features = int(spec["n_features"])
        self.allow_nan = bool(spec["allow_nan"])
        self.average = bool(spec["average"])
        self.table: NodeTable = read_nodes(spec["nodes"], reader)
        self.values = reader[spec["values"]]
        self.classes = load_classes(spec["classes"], reader) if "classes" in spec else None
        self.covers = read_covers(spec["nodes"], reader)
        self._shap: TreeShap | None = None
        # Explained: the class fractions (or their forest mean), or the regressed value.
        self.raw_scale = "value" if self.classes is None else "probability"

    def _routed(self, X: np.ndarray) -> np.ndarray:
        """X as the trees compare it, checked as the estimator checks it."""
        return as_float32_values(check_width(X, self.n_features, self.name), self.allow_nan)

    def _leaf_outputs(self, X: np.ndarray) -> np.ndarray:
        """The tree's leaf output, or the forest's mean of them, as _forest.py sums it."""
        X = self._routed(X)
        total = np.zeros((X.shape[0],) + self.values.shape[1:], dtype=np.float64)
        for _, leaves in iter_leaves(self.table, X):
            for tree_leaves in leaves:
                total += np.take(self.values, tree_leaves, axis=0)
        if self.average:
            total /= self.table.roots.size
        return total

    def raw_output(self, X: np.ndarray) -> np.ndarray:
        """What `explain` explains: the prediction's class fractions or values, (rows, k)."""
        outputs = self._leaf_outputs(X)
        return outputs if outputs.ndim == 2 else outputs[:, None]

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path-dependent SHAP values of `raw_output`, as shap's TreeExplainer gives them
        (its SingleTree scales a forest's trees by 1 / n_trees; here the sum over trees is
        divided once, as `_leaf_outputs` divides the summed predictions)."""
        explainer = self._explainer()
        contributions = explainer.contributions(self._routed(X))
        base = explainer.expected_value()
        if self.average:
            contributions /= self.table.roots.size
            base /= self.table.roots.size
        return base, contributions

    def _explainer(self) -> TreeShap:
        if self.covers is None:
            raise Unexplainable(REGISTERED_BEFORE_EXPLANATIONS)
        if self._shap is None:
            k = 1 if self.values.ndim == 1 else self.values.shape[1]
            # Only explaining needs it: loading a plan to answer stays as cheap as before.
            from chalicelib.scoring.plans._tree_shap import TreeShap

            self._shap = TreeShap(self.table, self.covers, self.values, self.n_features, k)
        return self._shap

    def predict(self, X: np.ndarray) -> np.ndarray:
        outputs = self._leaf_outputs(X)
        if self.classes is None:
            return outputs
        # The first maximum on ties, as np.argmax in the estimators' `predict`.
        return self.classes.take(np.argmax(outputs, axis=1), axis=0)


class TreesClassifierHead(TreesHead):
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._leaf_outputs(X)


def load_trees(spec: Spec, reader: PlanReader) -> TreesHead:
    if "classes" in spec:
        return TreesClassifierHead(spec, reader)
    return TreesHead(spec, reader)


_TREE = "sklearn.tree._classes."
_FOREST = "sklearn.ensemble._forest."
_GB = "sklearn.ensemble._gb."

PLANNERS: dict[str, Planner] = {
    **{
        _TREE + name: plan_tree
        for name in (
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
        )
    },
    **{
        _FOREST + name: plan_forest
        for name in (
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
        )
    },
    _GB + "GradientBoostingClassifier": plan_gradient_boosting,
    _GB + "GradientBoostingRegressor": plan_gradient_boosting,
}
LOADERS: dict[str, Loader] = {
    _KIND: load_trees,
    "sklearn_gradient_boosting": load_gradient_boosting,
}
