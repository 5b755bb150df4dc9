"""A planned preprocessing, saved as data and loaded without the estimator, transforms records
to exactly the matrix the compiled path gives: same values, same NaN, same errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from chalicelib.scoring.compiled import CompiledModel, compile_model
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable
from chalicelib.scoring.plans._preprocessing import load_preprocessing, plan_preprocessing
from sklambda.sample_data import FEATURES, churn_frame, trained_reference_model
from tests.column_cases import KINDS, TARGET, Case, cases, pipeline_for
from tests.scoring.test_compiled import (
    CASES,
    INPUTS,
    NUMS,
    PROPERTY,
    churn_records,
    estimator_input,
    impute_then,
    needs_a_frame,
    small_frame,
    small_records,
)

REPO = Path(__file__).resolve().parents[3]
Records = list[dict[str, Any]]


def saved(estimator: Any) -> tuple[Spec, bytes]:
    """The preprocessing plan as register stores it: strict JSON text and .npz bytes."""
    writer = PlanWriter()
    spec = plan_preprocessing(estimator, writer)
    return json.loads(json.dumps(spec, allow_nan=False)), writer.save()


def planned(estimator: Any) -> Any:
    """The preprocessing as serving loads it, from the saved data alone."""
    spec, arrays = saved(estimator)
    return load_preprocessing(spec, PlanReader(arrays))


def outcome(transform: Callable[[Records], np.ndarray], records: Records) -> Any:
    """The matrix, or the error's type and message: a plan must fail where the path fails."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. log of a negative value, in both paths
            return transform(records)
    except (ValueError, TypeError) as error:
        return type(error), str(error)


def assert_same_outcome(loaded: Any, compiled: CompiledModel, records: Records) -> None:
    got, expected = outcome(loaded.transform, records), outcome(compiled.transform, records)
    if isinstance(expected, tuple):
        assert got == expected
        return
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype == np.float64
    assert np.array_equal(got, expected, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# The small pipelines of the compiled path's tests, and a few more


def case_log1p_without_validation_remainder() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("log", impute_then("median", FunctionTransformer(np.log1p)), ["num_b"]),
            ("sqrt", FunctionTransformer(np.sqrt), ["num_b"]),  # NaN stays NaN
            ("keep", "passthrough", ["int_c"]),
            ("gone", "drop", ["cat_x", "num_empty"]),
        ],
        remainder="passthrough",  # num_a and cat_y, encoded below
    )
    encode = ColumnTransformer(
        [("cat_y", OneHotEncoder(handle_unknown="ignore"), [4])], remainder=MinMaxScaler()
    )
    tail = Pipeline([("encode", encode), ("impute", SimpleImputer()), ("ridge", Ridge())])
    return Pipeline([("ct", ct), ("tail", tail)]), "y_reg"


def case_ordinal_error_on_unknown_constant_fill() -> tuple[Any, str]:
    ct = ColumnTransformer(
        [
            ("cat", impute_then("constant", OrdinalEncoder(), fill_value="gap"), ["cat_x"]),
            ("num", impute_then("constant", StandardScaler(), fill_value=0.5), NUMS),
        ]
    )
    return Pipeline([("ct", ct), ("lr", LogisticRegression())]), "y_binary"


# Cases of the compiled path's tests a plan refuses, and why.
REFUSED_CASES = {"log1p_passthrough_remainder": "validate=True"}
PLANNED_CASES: dict[str, Callable[[], tuple[Any, str]]] = {
    **{name: case for name, case in CASES.items() if name not in REFUSED_CASES},
    "log1p_without_validation_remainder": case_log1p_without_validation_remainder,
    "ordinal_error_on_unknown_constant_fill": case_ordinal_error_on_unknown_constant_fill,
}


def fitted(case: Callable[[], tuple[Any, str]], training: pd.DataFrame, bare: bool) -> Any:
    model, target = case()
    inputs = ["num_a", "num_b", "int_c"] if bare else INPUTS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Skipping features without observed values"
        return model.fit(training[inputs], training[target])


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return small_frame()


@pytest.fixture(scope="module", params=list(PLANNED_CASES))
def small_plan(
    request: pytest.FixtureRequest, training: pd.DataFrame
) -> tuple[Any, CompiledModel, Any]:
    model = fitted(PLANNED_CASES[request.param], training, request.param == "bare_estimator")
    compiled = compile_model(model)
    assert compiled is not None, f"{request.param} should compile"
    return model, compiled, planned(model)


@PROPERTY
@given(records=small_records)
def test_small_pipelines_plan_as_compiled(
    small_plan: tuple[Any, CompiledModel, Any], records: Records
) -> None:
    _, compiled, loaded = small_plan
    assert_same_outcome(loaded, compiled, records)


def test_small_pipelines_plan_on_training_rows(
    small_plan: tuple[Any, CompiledModel, Any], training: pd.DataFrame
) -> None:
    model, compiled, loaded = small_plan
    assert loaded.feature_names == compiled.feature_names
    assert loaded.n_features_out == compiled.n_features_out
    inputs = list(compiled.feature_names)
    records = training[inputs].to_dict("records")
    assert_same_outcome(loaded, compiled, records)
    # As close to the pipeline as the compiled path promises (tests/scoring/test_compiled.py).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Skipping features without observed values"
        _, matrix = estimator_input(model, training[inputs])
    assert np.allclose(loaded.transform(records), np.asarray(matrix, dtype=float), equal_nan=True)


def test_refused_cases_say_why(training: pd.DataFrame) -> None:
    for name, reason in REFUSED_CASES.items():
        model = fitted(CASES[name], training, bare=False)
        assert compile_model(model) is not None
        with pytest.raises(Unplannable, match=reason):
            saved(model)


# ---------------------------------------------------------------------------------------------
# The reference churn pipelines, bit for bit


@pytest.fixture(scope="module", params=["hgb", "logreg"])
def reference_plan(request: pytest.FixtureRequest) -> tuple[Any, CompiledModel, Any]:
    model, _ = trained_reference_model(request.param, n_rows=400)
    compiled = compile_model(model)
    assert compiled is not None
    return model, compiled, planned(model)


@settings(PROPERTY, max_examples=60)
@given(records=churn_records)
def test_reference_pipelines_plan_as_compiled(
    reference_plan: tuple[Any, CompiledModel, Any], records: Records
) -> None:
    _, compiled, loaded = reference_plan
    assert_same_outcome(loaded, compiled, records)


def test_reference_pipelines_plan_as_the_pipeline(
    reference_plan: tuple[Any, CompiledModel, Any],
) -> None:
    model, compiled, loaded = reference_plan
    frame = churn_frame(300, seed=11, missing_rate=0.1, with_target=False)[FEATURES]
    records = frame.to_dict("records")
    assert loaded.feature_names == tuple(FEATURES)
    assert np.array_equal(loaded.transform(records), model[:-1].transform(frame))
    assert np.array_equal(loaded.transform(records), compiled.transform(records))


def test_memory_order_is_the_callers(reference_plan: tuple[Any, CompiledModel, Any]) -> None:
    _, compiled, loaded = reference_plan
    records = churn_frame(5, seed=2, with_target=False)[FEATURES].to_dict("records")
    assert loaded.order == "C" and loaded.transform(records).flags.c_contiguous
    compiled_order = compiled.order
    try:
        loaded.order = compiled.order = "F"
        matrix = loaded.transform(records)
        assert matrix.flags.f_contiguous and not matrix.flags.c_contiguous
        assert np.array_equal(matrix, compiled.transform(records))
    finally:
        loaded.order, compiled.order = "C", compiled_order
    with pytest.raises(ValueError, match="No records"):
        loaded.transform([])


def test_text_lives_in_the_spec_and_numbers_in_arrays() -> None:
    model, _ = trained_reference_model("logreg", n_rows=200)
    spec, arrays = saved(model)
    text = json.dumps(spec)
    assert '"month-to-month"' in text  # a contract level, as JSON text
    kinds = {array.dtype.kind for array in PlanReader(arrays).arrays.values()}
    assert kinds <= set("biuf")


# ---------------------------------------------------------------------------------------------
# Mixed column kinds, as register sees them

MIXED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOT_TIMES = tuple(kind for kind in KINDS if not kind.startswith("datetime"))


def as_records(frame: pd.DataFrame) -> Records:
    """The rows as Python values, missing as None (what the compiled path reads)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@MIXED
@given(case=cases(kinds=NOT_TIMES, max_columns=4))
def test_mixed_columns_plan_as_compiled_or_are_refused(case: Case) -> None:
    train, fresh = case.frames()
    model, names = pipeline_for(case, train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(train[names], train[TARGET])
    compiled = compile_model(model)
    if compiled is None:
        with pytest.raises(Unplannable, match="compiled path"):
            saved(model)
        return
    loaded = planned(model)
    for records in (as_records(fresh[names]), as_records(train[names])):
        assert_same_outcome(loaded, compiled, records)


# ---------------------------------------------------------------------------------------------
# What a plan refuses


def times_two(x: np.ndarray) -> np.ndarray:
    return x * 2.0


REFUSED: dict[str, tuple[list[tuple[str, Any]], str]] = {
    "PolynomialFeatures": (
        [("impute", SimpleImputer()), ("poly", PolynomialFeatures())],
        "no compiled form for PolynomialFeatures",
    ),
    "KBinsDiscretizer": (
        [
            ("impute", SimpleImputer()),
            ("bins", KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf")),
        ],
        "no compiled form for KBinsDiscretizer",
    ),
    "FunctionTransformer(DataFrame only)": (
        [("step", FunctionTransformer(needs_a_frame)), ("impute", SimpleImputer())],
        "fails on an ndarray",
    ),
    "FunctionTransformer(user function)": (
        [("impute", SimpleImputer()), ("step", FunctionTransformer(times_two))],
        r"FunctionTransformer\(.*times_two\) runs code a plan cannot hold",
    ),
    "FunctionTransformer(kw_args)": (
        [
            ("impute", SimpleImputer()),
            ("step", FunctionTransformer(np.round, kw_args={"decimals": 1})),
        ],
        "kw_args",
    ),
    "FunctionTransformer(validate=True)": (
        [("impute", SimpleImputer()), ("step", FunctionTransformer(np.log1p, validate=True))],
        "check_array",
    ),
    "transformer_weights": (
        [
            (
                "ct",
                ColumnTransformer([("num", SimpleImputer(), NUMS)], transformer_weights={"num": 2}),
            )
        ],
        "transformer_weights",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_unplannable_steps_say_why(name: str, training: pd.DataFrame) -> None:
    steps, reason = REFUSED[name]
    model = Pipeline([*steps, ("lr", LogisticRegression(max_iter=300))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(training[NUMS], training["y_binary"])
    with pytest.raises(Unplannable, match=reason):
        saved(model)


def test_unplannable_models_say_why(training: pd.DataFrame) -> None:
    on_arrays = Pipeline([("impute", SimpleImputer()), ("lr", LogisticRegression())])
    on_arrays.fit(training[NUMS].to_numpy(), training["y_binary"])
    no_estimator = Pipeline([("impute", SimpleImputer()), ("end", "passthrough")])
    categorical = training[["num_a", "cat_y"]].astype({"cat_y": "category"})
    own_encoding = HistGradientBoostingClassifier(max_iter=5, categorical_features="from_dtype")
    refused = {
        "not fitted on named columns": on_arrays,
        "not an estimator with predict": no_estimator.fit(training[NUMS]),
        "preprocesses its own input": own_encoding.fit(categorical, training["y_binary"]),
    }
    for reason, model in refused.items():
        with pytest.raises(Unplannable, match=reason):
            saved(model)


def test_categories_json_cannot_carry_are_refused() -> None:
    frame = pd.DataFrame({"code": pd.Series([b"x", b"y", b"z"] * 4, dtype=object)})
    model = Pipeline([("encode", OneHotEncoder()), ("lr", LogisticRegression())])
    model.fit(frame, [0, 1] * 6)
    assert compile_model(model) is not None
    with pytest.raises(Unplannable, match=r"OneHotEncoder column 0: a bytes value \(b'x'\)"):
        saved(model)


def test_a_spec_names_only_known_steps_and_functions() -> None:
    model = Pipeline([("log", FunctionTransformer(np.log1p)), ("lr", LogisticRegression())]).fit(
        small_frame()[NUMS].fillna(0.0), small_frame()["y_binary"]
    )
    spec, arrays = saved(model)
    assert spec["steps"] == [{"kind": "function", "function": "log1p", "width": 2}]
    for tampered, reason in [
        ({"kind": "function", "function": "os.system", "width": 2}, "not one a plan may call"),
        ({"kind": "pickle"}, "not known"),
    ]:
        with pytest.raises(Unplannable, match=reason):
            load_preprocessing(spec | {"steps": [tampered]}, PlanReader(arrays))
    with pytest.raises(Unplannable, match="not a preprocessing plan"):
        load_preprocessing(spec | {"kind": "trees"}, PlanReader(arrays))
    with pytest.raises(Unplannable, match="steps make 2 features, the spec says 3"):
        load_preprocessing(spec | {"n_features_out": 3}, PlanReader(arrays))


# ---------------------------------------------------------------------------------------------
# Loaded without scikit-learn, SciPy or pandas

BLOCKED_SCRIPT = """
import importlib.abc, json, sys
from pathlib import Path

BLOCKED = ("sklearn", "scipy", "pandas")

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is blocked")
        return None

sys.meta_path.insert(0, Blocked())
import numpy as np
from chalicelib.scoring.plans._format import PlanReader
from chalicelib.scoring.plans._preprocessing import load_preprocessing

folder = Path(sys.argv[1])
for name in json.loads((folder / "names.json").read_text()):
    spec = json.loads((folder / f"{name}.json").read_text())
    loaded = load_preprocessing(spec, PlanReader((folder / f"{name}.npz").read_bytes()))
    case = json.loads((folder / f"{name}.records.json").read_text())
    expected = np.load(folder / f"{name}.expected.npy", allow_pickle=False)
    assert np.array_equal(loaded.transform(case), expected, equal_nan=True), name
assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED], "a blocked module loaded"
print("ok")
"""


BLOCKED_CASES = ("min_max_clip_indicator_ordinal_multinomial", "log1p_without_validation_remainder")


def test_a_saved_plan_loads_without_sklearn_scipy_or_pandas(
    tmp_path: Path, training: pd.DataFrame
) -> None:
    churn = churn_frame(8, seed=4, with_target=False)
    models = {
        kind: (trained_reference_model(kind, n_rows=300)[0], churn) for kind in ("hgb", "logreg")
    }
    for name in BLOCKED_CASES:
        models[name] = (fitted(PLANNED_CASES[name], training, bare=False), training.head(8))
    for name, (model, source) in models.items():
        spec, arrays = saved(model)
        (tmp_path / f"{name}.json").write_text(json.dumps(spec, allow_nan=False))
        (tmp_path / f"{name}.npz").write_bytes(arrays)
        records = as_records(source[list(spec["feature_names"])])
        (tmp_path / f"{name}.records.json").write_text(json.dumps(records))
        compiled = compile_model(model)
        assert compiled is not None
        np.save(tmp_path / f"{name}.expected.npy", compiled.transform(records))
    (tmp_path / "names.json").write_text(json.dumps(list(models)))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED_SCRIPT), str(tmp_path)],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
