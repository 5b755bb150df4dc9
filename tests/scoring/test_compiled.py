"""The compiled scoring path must agree with the fitted pipeline, record for record."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from chalicelib.scoring import CompiledModel, compile_model
from sklambda.sample_data import (
    CATEGORICAL_LEVELS,
    FEATURES,
    NUMERIC_FEATURES,
    churn_frame,
    trained_reference_model,
)

REPO = Path(__file__).resolve().parents[2]
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Records = list[dict[str, Any]]


@pytest.fixture(scope="module", autouse=True)
def one_openmp_thread() -> Iterator[None]:
    """HistGradientBoosting opens an OpenMP region per tree: on a busy small box, threads
    spinning against each other make each prediction tens of times slower."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


# ---------------------------------------------------------------------------------------------
# Comparing the two paths


def as_frame(records: Records, dtypes: pd.Series) -> pd.DataFrame:
    """The records as the pipeline was fitted: training dtypes, None and NaN both missing."""
    columns = {}
    for name, dtype in dtypes.items():
        values = [np.nan if r.get(name) is None else r[name] for r in records]
        numeric = pd.api.types.is_numeric_dtype(dtype)
        columns[name] = pd.Series(values, dtype="float64" if numeric else dtype)
    return pd.DataFrame(columns)


def estimator_input(model: Any, frame: pd.DataFrame) -> tuple[Any, Any]:
    """The final estimator, through nested Pipelines, and the data sklearn hands it."""
    while isinstance(model, Pipeline):
        frame = model[:-1].transform(frame)
        model = model[-1]
    return model, frame


def assert_agrees(model: Any, compiled: CompiledModel, records: Records, dtypes: pd.Series) -> None:
    """Same matrix, predictions and probabilities as the pipeline; no warning on our side."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about unknown categories; fine there
        try:
            final, matrix = estimator_input(model, as_frame(records, dtypes))
            expected = final.predict(matrix)
            expected_proba = (
                final.predict_proba(matrix) if hasattr(final, "predict_proba") else None
            )
        except ValueError:
            with pytest.raises(ValueError), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled.predict(records)
            return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = compiled.transform(records)
        assert got.shape == matrix.shape
        assert np.allclose(got, np.asarray(matrix, dtype=float), equal_nan=True)
        predicted = compiled.predict(records)
        assert np.array_equal(predicted, expected) or np.allclose(predicted, expected)
        if expected_proba is not None:
            assert np.allclose(compiled.predict_proba(records), expected_proba)


def missing() -> st.SearchStrategy[Any]:
    return st.sampled_from([None, math.nan])


def batches(record: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Records]:
    return st.lists(record, min_size=1, max_size=4)


# ---------------------------------------------------------------------------------------------
# The reference churn pipelines

RANGES = {
    "tenure_months": (0, 130),
    "monthly_charges": (5, 220),
    "total_charges": (0, 26000),
    "age": (16, 95),
    "num_products": (0, 7),
    "support_calls": (0, 12),
    "late_payments": (0, 8),
    "data_usage_gb": (0, 70),
    "call_minutes": (0, 1600),
    "sms_count": (0, 90),
    "days_since_last_login": (0, 120),
    "avg_session_minutes": (0, 90),
    "discount_pct": (0, 25),
    "credit_score": (280, 870),
}
assert set(RANGES) == set(NUMERIC_FEATURES)


def churn_value(name: str) -> st.SearchStrategy[Any]:
    if name in RANGES:
        low, high = RANGES[name]
        return st.one_of(st.floats(low, high, allow_nan=False), st.integers(low, high), missing())
    return st.one_of(st.sampled_from([*CATEGORICAL_LEVELS[name], "unseen", ""]), missing())


churn_records = batches(st.fixed_dictionaries({name: churn_value(name) for name in FEATURES}))


@pytest.fixture(scope="module", params=["hgb", "logreg"])
def reference(request: pytest.FixtureRequest) -> tuple[Pipeline, CompiledModel, pd.Series]:
    model, frame = trained_reference_model(request.param, n_rows=400)
    compiled = compile_model(model)
    assert compiled is not None
    return model, compiled, frame[FEATURES].dtypes


@settings(PROPERTY, max_examples=60)
@given(records=churn_records)
def test_reference_pipelines_agree(
    reference: tuple[Pipeline, CompiledModel, pd.Series], records: Records
) -> None:
    assert_agrees(*reference[:2], records, reference[2])


def test_reference_pipelines_agree_on_their_own_rows(
    reference: tuple[Pipeline, CompiledModel, pd.Series],
) -> None:
    model, compiled, dtypes = reference
    frame = churn_frame(300, seed=11, missing_rate=0.1, with_target=False)[FEATURES]
    records = frame.to_dict("records")
    assert_agrees(model, compiled, records, dtypes)
    # Bit for bit, not merely close: same arithmetic in the same order.
    assert np.array_equal(compiled.transform(records), model[:-1].transform(frame))


def test_compiled_model_surface(reference: tuple[Pipeline, CompiledModel, pd.Series]) -> None:
    model, compiled, _ = reference
    assert compiled.feature_names == tuple(FEATURES)
    assert compiled.final_estimator is model[-1]
    assert list(compiled.classes_) == [0, 1]
    assert compiled.n_features_out == model[-1].n_features_in_
    record = {name: 1.0 for name in NUMERIC_FEATURES} | {"contract": "one-year"}
    # Extra keys are ignored; absent keys count as missing.
    with_extra = [record | {"customer_id": "c-1", "note": [1, 2]}]
    assert np.array_equal(compiled.transform(with_extra), compiled.transform([record]))
    with pytest.raises(ValueError, match="No records"):
        compiled.transform([])


def test_none_and_nan_are_the_same_missing_value(
    reference: tuple[Pipeline, CompiledModel, pd.Series],
) -> None:
    # pandas turns a lone None into an object column the imputer leaves alone (so the one-hot
    # sees an unknown); the compiled path scores it like NaN, the imputed "missing" category.
    model, compiled, dtypes = reference
    frame = churn_frame(1, seed=5, missing_rate=0.0, with_target=False)[FEATURES]
    record = frame.to_dict("records")[0]
    with_none = record | {"payment_method": None, "credit_score": None}
    with_nan = record | {"payment_method": math.nan, "credit_score": math.nan}
    assert np.array_equal(compiled.transform([with_none]), compiled.transform([with_nan]))
    expected = model[:-1].transform(as_frame([with_none], dtypes))
    assert np.array_equal(compiled.transform([with_none]), expected)


# ---------------------------------------------------------------------------------------------
# Small pipelines, one per transformer and option

NUMS = ["num_a", "num_b"]
CATS = ["cat_x", "cat_y"]
SMALL_LEVELS = {"cat_x": ["red", "green", "blue", "violet"], "cat_y": ["s", "m", "l"]}


def small_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two numeric columns with gaps, an int code, two categoricals, an empty column, targets."""
    rng = np.random.default_rng(seed)
    num_a = rng.normal(10.0, 3.0, n)
    num_b = rng.lognormal(1.0, 0.6, n)
    num_a[rng.uniform(size=n) < 0.1] = np.nan
    num_b[rng.uniform(size=n) < 0.05] = np.nan
    cat_x = rng.choice(SMALL_LEVELS["cat_x"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object)
    cat_x[rng.uniform(size=n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "num_a": num_a,
            "num_b": num_b,
            "num_empty": np.full(n, np.nan),
            "int_c": rng.integers(0, 5, n),
            "cat_x": pd.Series(cat_x, dtype="str"),
            "cat_y": pd.Series(rng.choice(SMALL_LEVELS["cat_y"], n), dtype="str"),
        }
    )
    signal = np.nan_to_num(num_a - 10.0) + (frame["cat_x"] == "red") * 2 + rng.normal(0, 1, n)
    frame["y_binary"] = (signal > 0.5).astype(int)
    frame["y_multi"] = np.digitize(signal, [-1.0, 2.0])
    frame["y_reg"] = signal * 3.0 + frame["int_c"]
    return frame


small_records = batches(
    st.fixed_dictionaries(
        {
            "num_a": st.one_of(st.floats(-5, 30, allow_nan=False), st.integers(-3, 40), missing()),
            "num_b": st.one_of(st.floats(0, 50, allow_nan=False), missing()),
            "num_empty": st.one_of(st.floats(-10, 10, allow_nan=False), missing()),
            "int_c": st.one_of(st.integers(-1, 7), st.none()),
            "cat_x": st.one_of(st.sampled_from([*SMALL_LEVELS["cat_x"], "zzz"]), missing()),
            "cat_y": st.one_of(st.sampled_from([*SMALL_LEVELS["cat_y"], "xl"]), st.none()),
        },
        optional={"unrelated": st.text(max_size=3)},
    )
)


def impute_then(strategy: str, step: Any, **imputer: Any) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy=strategy, **imputer)), ("step", step)])


def case_scaler_one_hot_drop_first() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("num", impute_then("mean", StandardScaler(with_mean=False)), NUMS),
            (
                "cat",
                impute_then("most_frequent", OneHotEncoder(drop="first", handle_unknown="ignore")),
                CATS,
            ),
        ]
    )
    return Pipeline([("ct", ct), ("lr", LogisticRegression())]), "y_binary"


def case_min_max_clip_indicator_ordinal_multinomial() -> tuple[Any, str]:
    scaler = MinMaxScaler(feature_range=(-1, 2), clip=True)
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
    )
    ct = ColumnTransformer(
        [
            ("num", impute_then("median", scaler, add_indicator=True), NUMS),
            ("cat", ordinal, CATS),
        ],
        remainder="drop",
    )
    return Pipeline([("ct", ct), ("lr", LogisticRegression(max_iter=500))]), "y_multi"


def case_constant_strings_infrequent_ridge() -> tuple[Any, str]:
    one_hot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.08)
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="constant", fill_value=-1.0), NUMS),
            ("cat", impute_then("constant", one_hot, fill_value="none"), ["cat_x"]),
            ("bin", OneHotEncoder(drop="if_binary", handle_unknown="ignore"), ["cat_y"]),
            ("int", OneHotEncoder(handle_unknown="ignore"), ["int_c"]),
        ]
    )
    return Pipeline([("ct", ct), ("ridge", Ridge())]), "y_reg"


def case_log1p_passthrough_remainder() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("log", impute_then("median", FunctionTransformer(np.log1p)), ["num_b"]),
            ("sqrt", impute_then("mean", FunctionTransformer(np.sqrt, validate=True)), ["num_b"]),
            ("keep", "passthrough", ["int_c"]),
            ("gone", "drop", [*CATS, "num_empty"]),
            ("none", StandardScaler(), []),
        ],
        remainder="passthrough",  # num_a, NaN included
    )
    model = HistGradientBoostingRegressor(max_iter=15, random_state=0)
    return Pipeline([("ct", ct), ("hgb", model)]), "y_reg"


def case_robust_max_abs_nested_final() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("rob", impute_then("mean", RobustScaler()), ["num_a"]),
            ("mab", impute_then("median", MaxAbsScaler(clip=True)), ["num_b"]),
            ("std", StandardScaler(with_std=False), ["int_c"]),
            ("cat", OneHotEncoder(drop=["green", "m"], handle_unknown="ignore"), CATS),
        ]
    )
    final = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())])
    return Pipeline([("ct", ct), ("noop", "passthrough"), ("model", final)]), "y_binary"


def case_pandas_output_nan_category() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), NUMS),
            ("cat", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), CATS),
            ("int", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), ["int_c"]),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    tree = DecisionTreeClassifier(max_depth=4, random_state=0)
    return Pipeline([("ct", ct), ("tree", tree)]), "y_binary"


def case_ordinal_infrequent_empty_columns() -> tuple[Any, str]:
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, min_frequency=0.1
    )
    ct = ColumnTransformer(
        [
            ("drops_empty", SimpleImputer(strategy="mean"), ["num_a", "num_empty"]),
            ("then_scales", impute_then("mean", StandardScaler()), ["num_a", "num_empty"]),
            ("keeps_empty", SimpleImputer(keep_empty_features=True), ["num_empty"]),
            ("cat", impute_then("most_frequent", ordinal), CATS),
        ]
    )
    hgb = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    return Pipeline([("ct", ct), ("hgb", hgb)]), "y_multi"


def case_bare_estimator() -> tuple[Any, str]:
    return HistGradientBoostingClassifier(max_iter=10, random_state=0), "y_binary"


def case_nan_reaches_linear_model() -> tuple[Any, str]:
    # No gap in training; a null in a request must fail as it does in sklearn.
    ct = ColumnTransformer([("int", "passthrough", ["int_c"])])
    return Pipeline([("ct", ct), ("lr", LinearRegression())]), "y_reg"


CASES: dict[str, Callable[[], tuple[Any, str]]] = {
    "scaler_one_hot_drop_first": case_scaler_one_hot_drop_first,
    "min_max_clip_indicator_ordinal_multinomial": case_min_max_clip_indicator_ordinal_multinomial,
    "constant_strings_infrequent_ridge": case_constant_strings_infrequent_ridge,
    "log1p_passthrough_remainder": case_log1p_passthrough_remainder,
    "robust_max_abs_nested_final": case_robust_max_abs_nested_final,
    "pandas_output_nan_category": case_pandas_output_nan_category,
    "ordinal_infrequent_empty_columns": case_ordinal_infrequent_empty_columns,
    "bare_estimator": case_bare_estimator,
    "nan_reaches_linear_model": case_nan_reaches_linear_model,
}
INPUTS = ["num_a", "num_b", "num_empty", "int_c", "cat_x", "cat_y"]


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return small_frame()


@pytest.fixture(scope="module", params=list(CASES))
def small_case(
    request: pytest.FixtureRequest, training: pd.DataFrame
) -> tuple[Any, CompiledModel, pd.Series]:
    model, target = CASES[request.param]()
    inputs = ["num_a", "num_b", "int_c"] if request.param == "bare_estimator" else INPUTS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Skipping features without observed values"
        model.fit(training[inputs], training[target])
    compiled = compile_model(model)
    assert compiled is not None, f"{request.param} should compile"
    return model, compiled, training[inputs].dtypes


@PROPERTY
@given(records=small_records)
def test_small_pipelines_agree(
    small_case: tuple[Any, CompiledModel, pd.Series], records: Records
) -> None:
    assert_agrees(*small_case[:2], records, small_case[2])


def test_small_pipelines_agree_on_training_rows(
    small_case: tuple[Any, CompiledModel, pd.Series], training: pd.DataFrame
) -> None:
    model, compiled, dtypes = small_case
    assert_agrees(model, compiled, training[list(dtypes.index)].to_dict("records"), dtypes)


def test_probabilities_only_where_the_estimator_has_them(training: pd.DataFrame) -> None:
    model, target = case_constant_strings_infrequent_ridge()
    compiled = compile_model(model.fit(training[INPUTS], training[target]))
    assert compiled is not None
    assert not hasattr(compiled, "predict_proba")
    with pytest.raises(AttributeError):
        _ = compiled.classes_


def test_unknown_category_raises_like_sklearn(training: pd.DataFrame) -> None:
    ct = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="error"), ["cat_y"])])
    model = Pipeline([("ct", ct), ("lr", LogisticRegression())])
    model.fit(training[INPUTS], training["y_binary"])
    compiled = compile_model(model)
    assert compiled is not None
    record = {name: None for name in INPUTS} | {"cat_y": "m"}
    assert_agrees(model, compiled, [record], training[INPUTS].dtypes)
    with pytest.raises(ValueError):
        model.predict(as_frame([record | {"cat_y": "xl"}], training[INPUTS].dtypes))
    with pytest.raises(ValueError, match="unknown categories"):
        compiled.predict([record | {"cat_y": "xl"}])


def needs_a_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ratio=frame["num_a"] / frame["num_b"])


def imputed(step: Any) -> list[tuple[str, Any]]:
    return [("impute", SimpleImputer()), ("step", step)]


@pytest.mark.parametrize(
    "steps",
    [
        imputed(PolynomialFeatures(degree=2)),
        imputed(KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf")),
        # First, so that sklearn hands it the DataFrame it needs.
        [("step", FunctionTransformer(needs_a_frame)), ("impute", SimpleImputer())],
    ],
    ids=["PolynomialFeatures", "KBinsDiscretizer", "FunctionTransformer(DataFrame only)"],
)
def test_unsupported_steps_fall_back(steps: list[tuple[str, Any]], training: pd.DataFrame) -> None:
    model = Pipeline([*steps, ("lr", LogisticRegression(max_iter=300))])
    model.fit(training[NUMS], training["y_binary"])
    assert model.predict(training[NUMS]).shape == (len(training),)
    assert compile_model(model) is None


def test_other_unsupported_models_fall_back(training: pd.DataFrame) -> None:
    weighted = ColumnTransformer([("num", SimpleImputer(), NUMS)], transformer_weights={"num": 2})
    fitted_on_arrays = Pipeline([("impute", SimpleImputer()), ("lr", LogisticRegression())])
    fitted_on_arrays.fit(training[NUMS].to_numpy(), training["y_binary"])
    models = [
        Pipeline([("ct", weighted), ("lr", LogisticRegression())]).fit(
            training[NUMS], training["y_binary"]
        ),
        fitted_on_arrays,
        Pipeline([("impute", SimpleImputer()), ("end", "passthrough")]).fit(training[NUMS]),
        SimpleImputer().fit(training[NUMS]),
    ]
    assert [compile_model(model) for model in models] == [None] * len(models)


# ---------------------------------------------------------------------------------------------
# No pandas on the compiled path

NO_PANDAS_SCRIPT = """
import importlib, importlib.abc, json, os, pkgutil, sys, traceback

import chalicelib.scoring.compiled

# The package loads its modules lazily: import every one of them before looking.
package = chalicelib.scoring.compiled
for found in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
    importlib.import_module(found.name)
assert "chalicelib.scoring.compiled._model" in sys.modules
assert "pandas" not in sys.modules, "chalicelib.scoring.compiled imported pandas"
assert "sklearn" not in sys.modules, "chalicelib.scoring.compiled imported scikit-learn"

# scikit-learn 1.9 tries `import pandas` itself as it loads (sklearn.utils.fixes), so hide
# pandas the way a Lambda package without it would, and record who asked for it.
askers = []

class HidePandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "pandas":
            askers.extend(frame.filename for frame in traceback.extract_stack())
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, HidePandas())
import joblib, numpy as np

case = json.load(open(sys.argv[1]))
for path, expected in case["expected"].items():
    compiled = chalicelib.scoring.compiled.compile_model(joblib.load(path))
    assert compiled is not None, path
    assert np.allclose(compiled.predict_proba(case["records"]), expected), path
assert "pandas" not in sys.modules
in_package = os.sep.join(("", "chalicelib", "scoring", "compiled", ""))
assert not [f for f in askers if in_package in f], "compiled path asked for pandas"
print("ok")
"""


def test_scoring_needs_no_pandas(tmp_path: Path) -> None:
    records = churn_frame(5, seed=3, with_target=False)[FEATURES].to_dict("records")
    expected = {}
    for kind in ("hgb", "logreg"):
        model, frame = trained_reference_model(kind, n_rows=300)
        path = tmp_path / f"{kind}.joblib"
        joblib.dump(model, path)
        matrix = as_frame(records, frame[FEATURES].dtypes)
        expected[str(path)] = model.predict_proba(matrix).tolist()
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"records": records, "expected": expected}))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_PANDAS_SCRIPT), str(case)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# The sub-package's layout: leaves know only _base, _chain composes them, _model ties it all

COMPILED = REPO / "chalicelib" / "scoring" / "compiled"
LAYOUT = {
    "_base": set(),
    "_numeric": {"_base"},
    "_categorical": {"_base"},
    "_function": {"_base"},
    "_chain": {"_base", "_numeric", "_categorical", "_function"},
    "_model": {"_base", "_chain"},
}


def test_compiled_modules_import_only_the_layers_below() -> None:
    prefix = "chalicelib.scoring.compiled."
    found = {}
    for path in sorted(COMPILED.glob("_[!_]*.py")):  # not __init__, which only declares
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        found[path.stem] = {m.removeprefix(prefix) for m in imported if m.startswith(prefix)}
    assert found == LAYOUT
