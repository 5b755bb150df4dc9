"""Explanations of tree plans: path-dependent SHAP values equal to shap's TreeExplainer
(`feature_perturbation="tree_path_dependent"`, Algorithm 2 of Lundberg et al. 2018 in its C
extension) within 1e-9 absolute, base equal to its expected_value, and base plus
contributions equal to the raw output, which is the estimator's own.

Where shap cannot explain the estimator (GradientBoostingClassifier with several classes) the
same trees are handed to it as a dict model; where it explains something else (categorical
splits, which it reads as numeric thresholds) the reference is the Shapley formula itself,
evaluated over every subset of features.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from itertools import combinations
from typing import Any

import numpy as np
import pytest
import shap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)
from threadpoolctl import threadpool_limits

from chalicelib.scoring.plans import _tree_shap
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Unexplainable
from chalicelib.scoring.plans._heads import load_head, plan_head
from chalicelib.scoring.plans._tree_walk import goes_right_at
from tests.scoring.plans.checks import close, planned
from tests.scoring.plans.test_hgb import categorical_probe, categorical_table
from tests.scoring.plans.tree_cases import bundled, table_with_holes

ATOL = 1e-9  # contributions and base against shap, absolute

Factory = Callable[[], Any]


@pytest.fixture(autouse=True)
def one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting fits small models faster without OpenMP's threads."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def own_raw(estimator: Any, X: np.ndarray) -> np.ndarray:
    """The estimator's own raw output, (rows, k): what the head's `raw_output` must equal."""
    if hasattr(estimator, "_raw_predict") and hasattr(estimator, "_baseline_prediction"):
        return np.asarray(estimator._raw_predict(X))  # HistGradientBoosting
    if hasattr(estimator, "init_") and hasattr(estimator, "decision_function"):
        return estimator.decision_function(X).reshape(X.shape[0], -1)  # GradientBoosting
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X))
    return np.asarray(estimator.predict(X)).reshape(X.shape[0], 1)


def shap_reference(estimator: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shap's (expected value (k,), values (rows, n_features, k))."""
    explainer = shap.TreeExplainer(estimator, feature_perturbation="tree_path_dependent")
    values = np.asarray(explainer.shap_values(X, check_additivity=False))
    if values.ndim == 2:
        values = values[:, :, None]
    return np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)), values


def check_explained(estimator: Any, X: np.ndarray, reference: Any = shap_reference) -> Any:
    """The head (through JSON and .npz bytes) explains X as the reference does, and its
    base plus contributions is its raw output, the estimator's own."""
    head = planned(estimator)
    base, contributions = head.explain(X)
    raw = head.raw_output(X)
    assert raw.shape == (X.shape[0], base.size)
    assert contributions.shape == (X.shape[0], X.shape[1], base.size)
    assert close(raw, own_raw(estimator, X)), "raw output differs from the estimator's"
    scale = 1.0 + np.abs(raw)
    assert np.all(np.abs(base + contributions.sum(axis=1) - raw) <= 1e-12 * scale * X.shape[1])
    if reference is not None:
        expected_base, expected = reference(estimator, X)
        assert np.abs(base - expected_base).max() <= ATOL * max(1.0, np.abs(base).max())
        assert np.abs(contributions - expected).max() <= ATOL
    return head


# -- scikit-learn's trees, forests and gradient boosting, against shap ---------------------

CASES: dict[str, tuple[Factory, str, str]] = {
    "tree_binary": (
        lambda: DecisionTreeClassifier(max_depth=6, random_state=0),
        "breast_cancer",
        "probability",
    ),
    "tree_multiclass": (lambda: DecisionTreeClassifier(random_state=0), "wine", "probability"),
    "extra_tree": (lambda: ExtraTreeClassifier(max_depth=8, random_state=0), "wine", "probability"),
    "tree_regressor": (
        lambda: DecisionTreeRegressor(max_depth=7, random_state=0),
        "diabetes",
        "value",
    ),
    "extra_tree_regressor": (
        lambda: ExtraTreeRegressor(max_depth=7, random_state=0),
        "diabetes",
        "value",
    ),
    "forest_binary": (
        lambda: RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0),
        "breast_cancer",
        "probability",
    ),
    "forest_multiclass": (
        lambda: RandomForestClassifier(n_estimators=25, random_state=0),
        "wine",
        "probability",
    ),
    "extra_forest": (
        lambda: ExtraTreesClassifier(n_estimators=25, max_depth=6, random_state=0),
        "wine",
        "probability",
    ),
    "forest_regressor": (
        lambda: RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0),
        "diabetes",
        "value",
    ),
    "extra_forest_regressor": (
        lambda: ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0),
        "diabetes",
        "value",
    ),
    "boosting_binary": (
        lambda: GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0),
        "breast_cancer",
        "log-odds",
    ),
    "boosting_zero_init": (
        lambda: GradientBoostingClassifier(
            n_estimators=20, init="zero", learning_rate=0.3, random_state=0
        ),
        "breast_cancer",
        "log-odds",
    ),
    "boosting_squared_error": (
        lambda: GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0),
        "diabetes",
        "value",
    ),
    "boosting_huber": (
        lambda: GradientBoostingRegressor(loss="huber", n_estimators=30, random_state=0),
        "diabetes",
        "raw",
    ),
    "boosting_quantile": (
        lambda: GradientBoostingRegressor(
            loss="quantile", alpha=0.7, n_estimators=30, random_state=0
        ),
        "diabetes",
        "raw",
    ),
    "hgb_binary": (
        lambda: HistGradientBoostingClassifier(max_iter=40, random_state=0),
        "breast_cancer",
        "log-odds",
    ),
    "hgb_multiclass": (
        lambda: HistGradientBoostingClassifier(max_iter=25, random_state=0),
        "wine",
        "raw",
    ),
    "hgb_squared_error": (
        lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0),
        "diabetes",
        "value",
    ),
    "hgb_poisson": (
        lambda: HistGradientBoostingRegressor(loss="poisson", max_iter=30, random_state=0),
        "diabetes",
        "raw",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_shap_on_bundled_sets(case: str) -> None:
    factory, data, scale = CASES[case]
    X, y = bundled(data)
    estimator = factory().fit(X, y)
    # shap refuses init="zero"; the same trees as a dict model are explained.
    reference = gradient_boosting_as_dicts if case == "boosting_zero_init" else shap_reference
    head = check_explained(estimator, X, reference)
    assert head.raw_scale == scale


def test_boosting_exponential_loss() -> None:
    """shap takes the prior's logit as the init of every binary GradientBoostingClassifier,
    but the exponential loss starts from half of it; contributions do not depend on it."""
    X, y = bundled("breast_cancer")
    estimator = GradientBoostingClassifier(loss="exponential", n_estimators=30, random_state=0)
    estimator.fit(X, y)
    head = check_explained(estimator, X, reference=None)
    assert head.raw_scale == "raw"
    _, expected = shap_reference(estimator, X)
    assert np.abs(head.explain(X)[1] - expected).max() <= ATOL


def gradient_boosting_as_dicts(estimator: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shap on a multiclass GradientBoostingClassifier (which its TreeExplainer refuses):
    each class's trees handed over as a dict model, as its SingleTree reads a scikit-learn
    tree (values scaled by the learning rate, NaN to `missing_go_to_left`'s side)."""
    narrow = X.astype(np.float32).astype(np.float64)  # the float32 values the trees compare
    raw_init = estimator._raw_predict_init(X[:1].astype(np.float32))[0]
    bases, values = [], []
    for k in range(estimator.estimators_.shape[1]):
        trees = []
        for tree in estimator.estimators_[:, k]:
            t = tree.tree_
            trees.append(
                {
                    "children_left": t.children_left,
                    "children_right": t.children_right,
                    "children_default": np.where(
                        t.missing_go_to_left, t.children_left, t.children_right
                    ),
                    "features": t.feature,
                    "thresholds": t.threshold,
                    "values": t.value[:, 0, :] * estimator.learning_rate,
                    "node_sample_weight": t.weighted_n_node_samples.astype(np.float64),
                }
            )
        model = {"trees": trees, "base_offset": raw_init[k]}
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        values.append(np.asarray(explainer.shap_values(narrow, check_additivity=False)))
        bases.append(float(np.ravel(explainer.expected_value)[0]))
    return np.array(bases), np.stack(values, axis=-1)


def test_multiclass_gradient_boosting() -> None:
    X, y = bundled("wine")
    estimator = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    head = check_explained(estimator.fit(X, y), X, reference=gradient_boosting_as_dicts)
    assert head.raw_scale == "raw"


# -- missing values and categories ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
        lambda: RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=25, random_state=0),
        lambda: HistGradientBoostingRegressor(max_iter=25, random_state=0),
    ],
    ids=["tree", "forest", "hgb_classifier", "hgb_regressor"],
)
def test_missing_values_take_the_learned_side(make: Factory) -> None:
    X, label, target = table_with_holes(seed=1)
    regression = "Regressor" in type(make()).__name__
    estimator = make().fit(X, target if regression else label)
    probe = X.copy()
    probe[::7] = np.nan  # whole rows missing, and NaN where fit saw none (the last column)
    check_explained(estimator, probe)


def shapley_by_subsets(head: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The path-dependent Shapley values by their definition: v(S) for every subset S of the
    features, where a tree's v(S) follows the row at splits on S and takes the
    cover-weighted mean of both sides elsewhere (Lundberg et al. 2018, Algorithm 1), each
    node routed by the head's own rule. Exponential in the features: for a few only."""
    routed = head._routed(X)
    table, covers = head.table, head.covers
    values = head.values
    k = head.per_iteration
    n_rows, n_features = routed.shape
    n_nodes = table.feature.size
    flat = routed.ravel()
    starts = np.tile(np.arange(n_rows) * n_features, n_nodes)
    nodes = np.repeat(np.arange(n_nodes), n_rows)
    right = goes_right_at(table, flat, starts, nodes, True).reshape(n_nodes, n_rows)

    def value(node: int, subset: frozenset[int]) -> np.ndarray:
        left_child, right_child = table.children[2 * node], table.children[2 * node + 1]
        if left_child == node:
            return np.full(n_rows, values[node])
        if int(table.feature[node]) in subset:
            return np.where(right[node], value(right_child, subset), value(left_child, subset))
        return (
            covers[left_child] * value(left_child, subset)
            + covers[right_child] * value(right_child, subset)
        ) / covers[node]

    def v(subset: frozenset[int]) -> np.ndarray:
        total = np.zeros((n_rows, k))
        for tree, root in enumerate(table.roots):
            total[:, tree % k] += value(int(root), subset)
        return total

    everything = range(n_features)
    games = {
        frozenset(s): v(frozenset(s))
        for size in range(n_features + 1)
        for s in combinations(everything, size)
    }
    phi = np.zeros((n_rows, n_features, k))
    for i in everything:
        others = [j for j in everything if j != i]
        for size in range(n_features):
            weight = math.factorial(size) * math.factorial(n_features - size - 1)
            weight /= math.factorial(n_features)
            for s in combinations(others, size):
                phi[:, i] += weight * (games[frozenset(s) | {i}] - games[frozenset(s)])
    if head.encoding is not None:
        restored = np.empty_like(phi)
        restored[:, head.encoding.order] = phi
        phi = restored
    return head.baseline + games[frozenset()][0], phi


@pytest.mark.parametrize("target", ["multiclass", "binary", "regressor"])
def test_categorical_splits_against_the_shapley_formula(target: str) -> None:
    """shap reads a categorical split's threshold as a number, so the reference here is the
    definition itself; the route is the prediction's (proven equal to scikit-learn's)."""
    X, y = categorical_table(seed=3, rows=600)
    params: dict[str, Any] = {"categorical_features": [0, 2], "max_iter": 8, "random_state": 0}
    if target == "regressor":
        estimator: Any = HistGradientBoostingRegressor(**params)
        estimator.fit(X, y + np.nan_to_num(X[:, 1]))
    else:
        estimator = HistGradientBoostingClassifier(**params)
        estimator.fit(X, y if target == "multiclass" else y > 0)
    probe = categorical_probe(X)
    probe = probe[np.isfinite(np.nan_to_num(probe, nan=0.0)).all(axis=1)][::5]
    head = check_explained(estimator, probe, reference=None)
    base, contributions = head.explain(probe)
    expected_base, expected = shapley_by_subsets(head, probe)
    assert np.abs(base - expected_base).max() <= ATOL
    assert np.abs(contributions - expected).max() <= ATOL


def test_the_shapley_formula_agrees_with_shap_where_both_apply() -> None:
    """The reference above is itself checked against shap, on numeric splits with NaN."""
    X, label, _ = table_with_holes(seed=2, features=4)
    estimator = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, label)
    head = planned(estimator)
    expected_base, expected = shap_reference(estimator, X[:40])
    base, phi = shapley_by_subsets(head, X[:40])
    assert np.abs(base - expected_base).max() <= ATOL
    assert np.abs(phi - expected).max() <= ATOL


def test_trees_without_a_split() -> None:
    """A tree that is one leaf explains nothing: every contribution 0, base its value."""
    X, _ = bundled("diabetes")
    estimator = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.full(len(X), 2.5))
    base, contributions = planned(estimator).explain(X[:5])
    assert np.array_equal(base, [2.5])
    assert not contributions.any()
    boosted = HistGradientBoostingRegressor(max_iter=3).fit(X, (X[:, 2] > 0) * 1.0)
    check_explained(boosted, X)  # stumps: one split per tree


def test_large_ensembles_are_explained_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small budget splits the trees into parts and the rows into blocks; the values
    stay shap's."""
    monkeypatch.setattr(_tree_shap, "_BLOCK_ENTRIES", 300)
    X, y = bundled("wine")
    estimator = RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0).fit(X, y)
    head = check_explained(estimator, X)
    assert len(head._explainer().parts) > 3


# -- plans written before explanations -----------------------------------------------------


def without_covers(estimator: Any) -> Any:
    """The head of a plan written before covers were stored."""
    writer = PlanWriter()
    spec = json.loads(json.dumps(plan_head(estimator, writer)))
    del spec["nodes"]["cover"]
    spec.pop("raw_scale", None)
    return load_head(spec, PlanReader(writer.save()))


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(n_estimators=5, random_state=0),
        lambda: GradientBoostingClassifier(n_estimators=5, random_state=0),
        lambda: HistGradientBoostingClassifier(max_iter=5, random_state=0),
    ],
    ids=["forest", "boosting", "hgb"],
)
def test_a_plan_without_covers_is_unexplainable(make: Factory) -> None:
    X, y = bundled("breast_cancer")
    estimator = make().fit(X, y)
    head = without_covers(estimator)
    with pytest.raises(Unexplainable, match="register it again"):
        head.explain(X[:3])
    assert close(head.raw_output(X), own_raw(estimator, X))
    assert np.array_equal(head.predict(X), estimator.predict(X))


def test_covers_leave_predictions_and_spec_keys_alone() -> None:
    X, y = bundled("wine")
    estimator = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    spec = plan_head(estimator, PlanWriter())
    old, new = without_covers(estimator), planned(estimator)
    assert np.array_equal(old.predict_proba(X), new.predict_proba(X))
    assert {"kind", "nodes", "baseline", "link"} <= set(spec)


# -- generated data ------------------------------------------------------------------------

CELL = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, np.nan]),
)
MAKERS: dict[str, Callable[[int], Any]] = {
    "tree": lambda depth: DecisionTreeRegressor(max_depth=depth, random_state=0),
    "forest": lambda depth: RandomForestRegressor(n_estimators=4, max_depth=depth, random_state=0),
    "hgb": lambda depth: HistGradientBoostingRegressor(
        max_iter=4, max_depth=depth, min_samples_leaf=2, random_state=0
    ),
    "hgb_categorical": lambda depth: HistGradientBoostingRegressor(
        max_iter=4, max_depth=depth, min_samples_leaf=2, categorical_features=[0], random_state=0
    ),
    "boosting": lambda depth: GradientBoostingRegressor(
        n_estimators=4, max_depth=depth, random_state=0
    ),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(CELL, min_size=90, max_size=90),
    target=st.lists(st.floats(-50, 50), min_size=30, max_size=30),
    maker=st.sampled_from(sorted(MAKERS)),
    depth=st.integers(1, 8),
)
def test_generated_trees_are_explained_exactly(
    cells: list[float], target: list[float], maker: str, depth: int
) -> None:
    """Efficiency (base + contributions = raw output) and the Shapley formula itself, on
    whatever trees the data grows (duplicate features on a path, stumps, NaN)."""
    X = np.array(cells).reshape(30, 3)
    if maker == "hgb_categorical":
        X[:, 0] = np.where(np.isnan(X[:, 0]), np.nan, np.abs(np.nan_to_num(X[:, 0])) % 5 // 1)
    if maker in ("forest", "boosting"):
        X = np.nan_to_num(X, nan=0.5)  # GradientBoosting refuses NaN
    estimator = MAKERS[maker](depth).fit(X, np.array(target))
    probe = np.concatenate([X, X[::-1] * 0.5 + 1.0])
    head = check_explained(estimator, probe, reference=None)
    if maker.startswith("hgb"):
        base, contributions = head.explain(probe)
        expected_base, expected = shapley_by_subsets(head, probe)
        scale = 1.0 + np.abs(expected).max()
        assert np.abs(contributions - expected).max() <= 1e-12 * scale * 10
        assert np.abs(base - expected_base).max() <= 1e-12 * scale * 10
