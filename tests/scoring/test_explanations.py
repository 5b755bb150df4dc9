"""Exact explanations of planned versions, as registration makes them (`make_plan`) and
serving reads them: contributions equal to the shap package's on scikit-learn's bundled data
sets, base + contributions equal to the model's raw output, and the columns of a one-hot
block folded back into the feature they came from."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ATOL = 1e-9


def _planned(model: Any, frame: pd.DataFrame, target: str) -> tuple[Any, dict[str, Any]]:
    """The plan registration keeps for `model` (fitted on `frame`), loaded back from its bytes,
    and what the metadata records of its explanations."""
    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import matrix_order
    from chalicelib.scoring.plans import load_plan
    from chalicelib.stats import infer_signature

    features = infer_signature(model, frame, target)["features"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # extreme edge rows overflow, on both sides alike
        files, info, explained = make_plan(
            model, frame, features, str(matrix_order(model, frame, features))
        )
    assert info["state"] == "planned", info
    return load_plan(files["plan.json"], files["plan.npz"]), dict(explained)


def _with_grade(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The frame with a text column made from a numeric one: three levels, one-hot encoded."""
    frame = frame.copy()
    cuts = frame[column].quantile([1 / 3, 2 / 3]).to_numpy()
    frame["grade"] = np.where(
        frame[column] > cuts[1], "high", np.where(frame[column] > cuts[0], "mid", "low")
    )
    return frame


def _pipeline(numbers: list[str], final: Any) -> Any:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = make_column_transformer(
        (StandardScaler(), numbers), (OneHotEncoder(handle_unknown="ignore"), ["grade"])
    )
    return make_pipeline(columns, final)


def _dataset(name: str) -> tuple[pd.DataFrame, str]:
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns=str)
    features = [c for c in frame.columns if c != "target"][:8]
    # A frame read as serving reads one: one float block per column, as from a CSV file.
    frame = pd.DataFrame({c: frame[c].to_numpy().copy() for c in [*features, "target"]})
    return _with_grade(frame, features[0]), "target"


def _final(kind: str) -> Any:
    from sklearn import linear_model, svm

    return {
        "logistic": lambda: linear_model.LogisticRegression(max_iter=5000),
        "ridge": lambda: linear_model.Ridge(alpha=0.5),
        "linear": linear_model.LinearRegression,
        "lasso": lambda: linear_model.Lasso(alpha=0.05),
        "linear_svc": lambda: svm.LinearSVC(),
        "poisson": lambda: linear_model.PoissonRegressor(alpha=0.01, max_iter=1000),
    }[kind]()


LINEAR_CASES = [
    ("breast_cancer", "logistic", "log-odds"),
    ("wine", "logistic", "raw"),
    ("diabetes", "ridge", "value"),
    ("diabetes", "linear", "value"),
    ("diabetes", "lasso", "value"),
    ("diabetes", "poisson", "log"),
    ("breast_cancer", "linear_svc", "decision"),
]


@pytest.mark.parametrize(("dataset", "kind", "scale"), LINEAR_CASES)
def test_linear_contributions_equal_shaps_and_fold_one_hot_columns(
    dataset: str, kind: str, scale: str
) -> None:
    import shap

    frame, target = _dataset(dataset)
    numbers = [c for c in frame.columns if c not in (target, "grade")]
    model = _pipeline(numbers, _final(kind))
    inputs = frame[[*numbers, "grade"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LinearSVC's convergence notice
        model.fit(inputs, frame[target])
    plan, recorded = _planned(model, frame, target)
    records = inputs.head(40).to_dict("records")
    explained = plan.explain(records)
    assert explained.scale == scale == recorded["scale"]
    assert list(explained.features) == [*numbers, "grade"]

    final = model[-1]
    background = model[:-1].transform(inputs)
    matrix = model[:-1].transform(inputs.head(40))
    explainer = shap.LinearExplainer(
        final, shap.maskers.Independent(background, max_samples=len(background))
    )
    theirs = np.asarray(explainer.shap_values(matrix))
    if theirs.ndim == 2:
        theirs = theirs[:, :, None]
    expected_base = np.reshape(explainer.expected_value, -1)
    # shap's columns are the matrix's: the one-hot block is summed into "grade".
    n_numbers = len(numbers)
    folded = np.concatenate(
        [theirs[:, :n_numbers, :], theirs[:, n_numbers:, :].sum(axis=1, keepdims=True)], axis=1
    )
    np.testing.assert_allclose(explained.contributions, folded, rtol=0, atol=ATOL)
    np.testing.assert_allclose(explained.base, expected_base, rtol=0, atol=ATOL)
    total = explained.base[None, :] + explained.contributions.sum(axis=1)
    np.testing.assert_allclose(total, explained.raw, rtol=0, atol=ATOL)
    raw = final.decision_function(matrix) if hasattr(final, "decision_function") else None
    if scale == "log":
        raw = np.log(final.predict(matrix))
    elif raw is None:
        raw = final.predict(matrix)
    np.testing.assert_allclose(explained.raw, np.reshape(raw, (40, -1)), rtol=1e-9, atol=ATOL)
    # The importance is each feature's mean absolute contribution on the reference sample.
    importance = recorded["importance"]
    everything = plan.explain(inputs.to_dict("records"))
    expected = np.abs(everything.contributions).mean(axis=(0, 2))
    assert list(importance) == list(explained.features)
    np.testing.assert_allclose(list(importance.values()), expected, rtol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    rows=st.integers(30, 120),
    levels=st.integers(2, 6),
    missing=st.floats(0.0, 0.3),
)
def test_contributions_add_up_to_the_raw_output_and_blocks_fold_into_their_feature(
    seed: int, rows: int, levels: int, missing: float
) -> None:
    """Generated tables of numbers and text with missing values, imputed and encoded: every
    record's base + contributions is its log-odds, and the text feature's contribution is
    the sum of its one-hot columns' (computed here from the coefficients)."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.exponential(size=rows)})
    frame["c"] = rng.choice([f"l{i}" for i in range(levels)], size=rows)
    frame.loc[rng.random(rows) < missing, "a"] = np.nan
    frame["y"] = (rng.random(rows) < 0.5).astype(int)
    frame.loc[:1, "y"] = [0, 1]
    model = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(), StandardScaler()), ["a", "b"]),
            (OneHotEncoder(handle_unknown="ignore"), ["c"]),
        ),
        LogisticRegression(),
    ).fit(frame[["a", "b", "c"]], frame["y"])
    plan, _ = _planned(model, frame, "y")
    records = [
        {k: (None if v != v else v) for k, v in r.items()}
        for r in frame[["a", "b", "c"]].to_dict("records")
    ]
    explained = plan.explain(records)
    total = explained.base + explained.contributions.sum(axis=1)[:, 0]
    log_odds = model.decision_function(frame[["a", "b", "c"]])
    np.testing.assert_allclose(total, log_odds, rtol=0, atol=1e-9)
    matrix = model[:-1].transform(frame[["a", "b", "c"]])
    coef = model[-1].coef_[0]
    per_column = (matrix - matrix.mean(axis=0)) * coef
    np.testing.assert_allclose(
        explained.contributions[:, 2, 0], per_column[:, 2:].sum(axis=1), atol=1e-9
    )


@pytest.mark.parametrize("final", ["gaussian_nb", "mlp"])
def test_a_model_without_an_exact_explanation_says_so(final: str) -> None:
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier

    from chalicelib.scoring.plans import Unexplainable

    frame, target = _dataset("breast_cancer")
    numbers = [c for c in frame.columns if c not in (target, "grade")]
    estimator = GaussianNB() if final == "gaussian_nb" else MLPClassifier((4,), max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _pipeline(numbers, estimator).fit(frame[[*numbers, "grade"]], frame[target])
    plan, recorded = _planned(model, frame, target)
    assert recorded["state"] == "unavailable"
    assert "linear and logistic models" in recorded["reason"]
    with pytest.raises(Unexplainable, match="tree ensembles"):
        plan.explain(frame[[*numbers, "grade"]].head(2).to_dict("records"))


def _tree_final(kind: str) -> Any:
    from sklearn import ensemble, tree

    return {
        "decision_tree": lambda: tree.DecisionTreeClassifier(max_depth=5, random_state=0),
        "random_forest": lambda: ensemble.RandomForestClassifier(
            n_estimators=20, max_depth=6, random_state=0
        ),
        "extra_trees": lambda: ensemble.ExtraTreesRegressor(
            n_estimators=15, max_depth=6, random_state=0
        ),
        "gradient_boosting": lambda: ensemble.GradientBoostingClassifier(
            n_estimators=30, max_depth=3, random_state=0
        ),
        "hist_gradient_boosting": lambda: ensemble.HistGradientBoostingClassifier(
            max_iter=30, random_state=0
        ),
        "hist_gradient_boosting_regressor": lambda: ensemble.HistGradientBoostingRegressor(
            max_iter=30, random_state=0
        ),
    }[kind]()


TREE_CASES = [
    ("breast_cancer", "decision_tree", "probability"),
    ("wine", "random_forest", "probability"),
    ("diabetes", "extra_trees", "value"),
    ("breast_cancer", "gradient_boosting", "log-odds"),
    ("wine", "hist_gradient_boosting", "raw"),
    ("diabetes", "hist_gradient_boosting_regressor", "value"),
]


@pytest.mark.parametrize(("dataset", "kind", "scale"), TREE_CASES)
def test_tree_contributions_equal_shaps_on_the_users_features(
    dataset: str, kind: str, scale: str
) -> None:
    """Whole pipelines (scaled numbers, a one-hot text column) as registered: the plan's
    contributions per input feature are shap's TreeExplainer values summed over each
    feature's columns, and add up to the model's raw output."""
    import shap

    frame, target = _dataset(dataset)
    numbers = [c for c in frame.columns if c not in (target, "grade")]
    model = _pipeline(numbers, _tree_final(kind))
    inputs = frame[[*numbers, "grade"]]
    model.fit(inputs, frame[target])
    plan, recorded = _planned(model, frame, target)
    assert recorded["state"] == "available" and recorded["scale"] == scale
    explained = plan.explain(inputs.head(30).to_dict("records"))
    assert explained.scale == scale

    matrix = model[:-1].transform(inputs.head(30))
    explainer = shap.TreeExplainer(model[-1], feature_perturbation="tree_path_dependent")
    theirs = np.asarray(explainer.shap_values(matrix, check_additivity=False))
    if theirs.ndim == 2:
        theirs = theirs[:, :, None]
    expected_base = np.reshape(explainer.expected_value, -1)
    if theirs.shape[2] == 2:  # a binary tree's class fractions: the positive class alone
        theirs, expected_base = theirs[:, :, 1:], expected_base[1:]
    n_numbers = len(numbers)
    folded = np.concatenate(
        [theirs[:, :n_numbers, :], theirs[:, n_numbers:, :].sum(axis=1, keepdims=True)], axis=1
    )
    np.testing.assert_allclose(explained.contributions, folded, rtol=0, atol=ATOL)
    np.testing.assert_allclose(explained.base, expected_base, rtol=0, atol=ATOL)
    total = explained.base[None, :] + explained.contributions.sum(axis=1)
    np.testing.assert_allclose(total, explained.raw, rtol=1e-12, atol=ATOL)


@pytest.mark.parametrize("kind", ["logistic", "hist_gradient_boosting"])
def test_a_plan_written_before_explanations_says_to_register_again(kind: str) -> None:
    """Plans stored before explanations have no reference mean (linear) or node covers
    (trees): such a version explains nothing, and says how to get explanations."""
    import json

    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import matrix_order
    from chalicelib.scoring.plans import Unexplainable, load_plan
    from chalicelib.scoring.plans._format import REGISTERED_BEFORE_EXPLANATIONS
    from chalicelib.stats import infer_signature

    frame, target = _dataset("breast_cancer")
    numbers = [c for c in frame.columns if c not in (target, "grade")]
    final = _final(kind) if kind == "logistic" else _tree_final(kind)
    model = _pipeline(numbers, final).fit(frame[[*numbers, "grade"]], frame[target])
    features = infer_signature(model, frame, target)["features"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        files, _, _ = make_plan(model, frame, features, str(matrix_order(model, frame, features)))
    spec = json.loads(files["plan.json"])
    spec.pop("background", None)
    if "nodes" in spec["head"]:
        del spec["head"]["nodes"]["cover"]
    old = load_plan(json.dumps(spec).encode(), files["plan.npz"])
    assert old.explainable() == REGISTERED_BEFORE_EXPLANATIONS
    with pytest.raises(Unexplainable, match="register it again"):
        old.explain(frame[[*numbers, "grade"]].head(1).to_dict("records"))
    # Its answers are the same as ever.
    fresh = load_plan(files["plan.json"], files["plan.npz"])
    rows = frame[[*numbers, "grade"]].head(5).to_dict("records")
    assert np.array_equal(old.predict_proba(rows), fresh.predict_proba(rows))
