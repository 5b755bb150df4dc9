"""Plans of HistGradientBoosting estimators answer as the estimators do; tree heads evaluate
with scikit-learn, SciPy and pandas impossible to import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from threadpoolctl import threadpool_limits

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import assert_same, close, planned
from tests.scoring.plans.tree_cases import (
    CLASSIFICATION_SETS,
    bundled,
    table_with_holes,
    with_unseen_holes,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def one_openmp_thread() -> Iterator[None]:
    """Fitting many small HistGradientBoosting models is slower with OpenMP's threads than
    without them, most of all on a busy machine."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def classifier(**params: Any) -> HistGradientBoostingClassifier:
    params.setdefault("max_iter", 25)
    return HistGradientBoostingClassifier(random_state=0, **params)


def regressor(loss: str, **params: Any) -> HistGradientBoostingRegressor:
    if loss == "quantile":
        params.setdefault("quantile", 0.8)
    params.setdefault("max_iter", 25)
    return HistGradientBoostingRegressor(loss=loss, random_state=0, **params)


LOSSES = ["squared_error", "absolute_error", "poisson", "gamma", "quantile"]


@pytest.mark.parametrize("data", sorted(CLASSIFICATION_SETS))
def test_classifier_on_bundled_sets(data: str) -> None:
    X, y = bundled(data)
    assert_same(classifier().fit(X, y), X)


@pytest.mark.parametrize("loss", LOSSES)
def test_regressor_losses_on_diabetes(loss: str) -> None:
    X, y = bundled("diabetes")
    assert_same(regressor(loss).fit(X, y), X)


def test_early_stopping_and_string_labels() -> None:
    X, y = bundled("wine")
    names = np.array(["a", "b", "c"])[y]
    estimator = classifier(early_stopping=True, validation_fraction=0.3, max_iter=200)
    assert_same(estimator.fit(X, names), X)


def test_thresholds_their_neighbours_and_extremes() -> None:
    X, y = bundled("breast_cancer")
    estimator = classifier().fit(X, y)
    probes = [X]
    for iteration in estimator._predictors:
        nodes = iteration[0].nodes
        split = nodes["is_leaf"] == 0
        for values in (
            nodes["num_threshold"][split],
            np.nextafter(nodes["num_threshold"][split], np.inf),
            np.nextafter(nodes["num_threshold"][split], -np.inf),
        ):
            block = np.repeat(X[:1], values.size, axis=0)
            block[np.arange(values.size), nodes["feature_idx"][split]] = values
            probes.append(block)
    extreme = np.resize([1e300, -1e300, np.inf, -np.inf, np.nan, 0.0, -0.0], (70, X.shape[1]))
    probes.append(extreme)
    assert_same(estimator, np.concatenate(probes))


@pytest.mark.parametrize("make", ["binary", "multiclass", "regressor"])
def test_missing_values_at_fit_and_predict(make: str) -> None:
    X, label, target = table_with_holes(seed=7, rows=600)
    if make == "regressor":
        estimator: Any = regressor("squared_error").fit(X, target)
    else:
        estimator = classifier().fit(X, label if make == "multiclass" else label > 0)
    assert_same(estimator, X)
    assert_same(estimator, with_unseen_holes(X, seed=8))


def categorical_table(seed: int, rows: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Integer-coded categories in columns 0 and 2 (with NaN in column 0), numbers in 1."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [rng.integers(0, 12, rows), rng.normal(size=rows), rng.integers(0, 5, rows)]
    ).astype(float)
    X[rng.random(rows) < 0.1, 0] = np.nan
    X[rng.random(rows) < 0.1, 1] = np.nan
    signal = (np.nan_to_num(X[:, 0], nan=1) % 3 == 0) ^ (np.nan_to_num(X[:, 1]) > 0.3)
    return X, signal.astype(int) + (X[:, 2] > 2)


def categorical_probe(X: np.ndarray) -> np.ndarray:
    """Unseen, negative, fractional, huge and missing codes, and extremes in the numbers."""
    probe = X[:200].copy()
    probe[:60, 0] = np.arange(-30, 30)
    probe[60:70, 2] = [5, 6, 7, 255, 256, 1e9, 1e300, -1e300, 2.5, -0.0]
    probe[70:80, 0] = np.nan
    probe[80:90, 1] = [np.inf, -np.inf, 1e300, -1e300, np.nan, 0, -0.0, 5e-324, 1e-300, 3]
    probe[90:95, :] = np.nan
    return probe


@pytest.mark.parametrize("target", ["multiclass", "binary", "regressor"])
def test_native_categorical_splits(target: str) -> None:
    X, y = categorical_table(seed=3)
    if target == "regressor":
        estimator: Any = regressor("squared_error", categorical_features=[0, 2])
        estimator.fit(X, y + np.nan_to_num(X[:, 1]))
    else:
        estimator = classifier(categorical_features=[0, 2], max_iter=40)
        estimator.fit(X, y if target == "multiclass" else y > 0)
    assert_same(estimator, X)
    assert_same(estimator, categorical_probe(X))


def test_categorical_by_mask_with_a_category_only_seen_missing() -> None:
    X, y = categorical_table(seed=4)
    mask = np.array([False, False, True])
    assert_same(classifier(categorical_features=mask).fit(X, y), categorical_probe(X))


def test_infinite_category_is_refused_as_the_estimator_does() -> None:
    X, y = categorical_table(seed=5)
    estimator = classifier(categorical_features=[0]).fit(X, y)
    probe = X[:4].copy()
    probe[1, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        estimator.predict(probe)
    with pytest.raises(ValueError, match="infinity"):
        planned(estimator).predict(probe)


def test_categories_from_a_frame_are_refused() -> None:
    X, y = categorical_table(seed=6)
    frame = pd.DataFrame({"a": pd.Categorical(np.nan_to_num(X[:, 0]).astype(int)), "b": X[:, 1]})
    estimator = classifier(categorical_features="from_dtype").fit(frame, y)
    with pytest.raises(Unplannable, match="DataFrame with categorical features"):
        plan_head(estimator, PlanWriter())


def test_a_numeric_frame_without_categories_is_planned() -> None:
    X, y = bundled("iris")
    frame = pd.DataFrame(X, columns=list("abcd"))
    estimator = classifier().fit(frame, y)
    head = planned(estimator)
    assert np.array_equal(head.predict(X), estimator.predict(frame))
    assert close(head.predict_proba(X), estimator.predict_proba(frame))


# -- generated tables ---------------------------------------------------------------------

CELL = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan, 1e300, -np.inf]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(CELL, min_size=120, max_size=120),
    labels=st.lists(st.integers(0, 2), min_size=40, max_size=40),
    categorical=st.booleans(),
    seed=st.integers(0, 5),
)
def test_generated_tables(
    cells: list[float], labels: list[int], categorical: bool, seed: int
) -> None:
    X = np.array(cells).reshape(40, 3)
    y = np.array(labels)
    if categorical:  # column 0 as small integer codes, negative ones included
        codes = np.abs(np.nan_to_num(X[:, 0], posinf=0.0, neginf=0.0)) % 6 // 1 - 2
        X[:, 0] = np.where(np.isfinite(X[:, 0]), codes, np.nan)
    params: dict[str, Any] = {"min_samples_leaf": 2, "max_iter": 8}
    if categorical:
        params["categorical_features"] = [0]
    probe = np.concatenate([X, with_unseen_holes(X, seed), X[::-1] * 3.0 - 1.0])
    assert_same(regressor("squared_error", **params).fit(X, y * 1.5 + seed), probe)
    if np.unique(y).size > 1:
        assert_same(classifier(**params).fit(X, y), probe)


# -- no scikit-learn, SciPy or pandas at serving --------------------------------------------

CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys
    from pathlib import Path

    class Blocked(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("sklearn", "scipy", "pandas"):
                raise ImportError(f"{name} is blocked")
            return None

    sys.meta_path.insert(0, Blocked())
    try:
        import scipy
    except ImportError:
        pass
    else:
        raise SystemExit("scipy was not blocked")
    import numpy as np
    from chalicelib.scoring.plans import _hgb, _trees
    from chalicelib.scoring.plans._format import PlanReader

    where = Path(sys.argv[1])
    loaders = {**_trees.LOADERS, **_hgb.LOADERS}
    X = np.load(where / "X.npy")
    answers = {}
    for name, spec in json.loads((where / "specs.json").read_text()).items():
        head = loaders[spec["kind"]](spec, PlanReader((where / f"{name}.npz").read_bytes()))
        answers[f"{name}.predict"] = head.predict(X)
        answers[f"{name}.predict_proba"] = head.predict_proba(X)
        answers[f"{name}.base"], answers[f"{name}.contributions"] = head.explain(X)
    np.savez(where / "answers.npz", **answers)
    assert not any(m.split(".")[0] in ("sklearn", "scipy", "pandas") for m in sys.modules)
    """
)


def test_heads_evaluate_without_sklearn_scipy_or_pandas(tmp_path: Path) -> None:
    X, y = categorical_table(seed=9)
    finite = np.nan_to_num(X)
    estimators = {
        "hgb": classifier(categorical_features=[0, 2]).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
        "boosting": GradientBoostingClassifier(n_estimators=5).fit(finite, y),
    }
    specs = {}
    for name, estimator in estimators.items():
        writer = PlanWriter()
        specs[name] = plan_head(estimator, writer)
        (tmp_path / f"{name}.npz").write_bytes(writer.save())
    (tmp_path / "specs.json").write_text(json.dumps(specs))
    np.save(tmp_path / "X.npy", finite)
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], check=True, cwd=ROOT, timeout=120)
    with np.load(tmp_path / "answers.npz") as answers:
        for name, estimator in estimators.items():
            assert np.array_equal(answers[f"{name}.predict"], estimator.predict(finite))
            assert close(answers[f"{name}.predict_proba"], estimator.predict_proba(finite))
            base, contributions = planned(estimator).explain(finite)
            assert np.array_equal(answers[f"{name}.base"], base)
            assert np.array_equal(answers[f"{name}.contributions"], contributions)


def test_an_unknown_link_is_refused() -> None:
    """A loss whose link the plan does not know (here a stand-in) is named in the refusal."""

    class PowerLink:
        pass

    class PowerLoss:
        link = PowerLink()

    X, y = bundled("diabetes")
    estimator = regressor("squared_error").fit(X, y)
    estimator._loss = PowerLoss()
    with pytest.raises(Unplannable, match="PowerLink"):
        plan_head(estimator, PlanWriter())
