"""Wrappers inside wrappers, a saved wrapper plan evaluated where scikit-learn, SciPy and
pandas cannot be imported, a whole pipeline whose final estimator is a wrapper planned and
proven as register proves it, and the reason given when a part deep inside has no plan."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import close
from tests.scoring.plans.numeric_cases import (
    assert_same_both_orders,
    extreme_rows,
    run_without_sklearn,
)
from tests.scoring.plans.wrapper_cases import (
    EACH_TARGET,
    classification,
    fit_quietly,
    gaussian_nb,
    logistic,
    regression,
    ridge_classifier,
    sk,
    small_hgb,
    small_tree,
)


def _nested_classifier() -> Any:
    """Stacking over a calibrated classifier, a OneVsRest and a soft vote, with a calibrated
    final estimator and the features passed through."""
    calibrated = sk("calibration.CalibratedClassifierCV")(
        ridge_classifier(), method="isotonic", cv=3
    )
    one_vs_rest = sk("multiclass.OneVsRestClassifier")(gaussian_nb())
    vote = sk("ensemble.VotingClassifier")(
        [("lr", logistic()), ("tree", small_tree())], voting="soft", weights=[2, 1]
    )
    return sk("ensemble.StackingClassifier")(
        [("calibrated", calibrated), ("ovr", one_vs_rest), ("vote", vote)],
        final_estimator=sk("calibration.CalibratedClassifierCV")(logistic(), cv=3),
        passthrough=True,
        cv=3,
    )


def _nested_regressor() -> Any:
    stack = sk("ensemble.StackingRegressor")(
        [
            ("ridge", sk("linear_model.Ridge")()),
            ("tree", sk("tree.DecisionTreeRegressor")(max_depth=4, random_state=0)),
        ],
        final_estimator=sk("ensemble.VotingRegressor")(
            [("lasso", sk("linear_model.Lasso")()), ("ridge", sk("linear_model.Ridge")())]
        ),
        cv=3,
    )
    return sk("compose.TransformedTargetRegressor")(stack, func=np.log, inverse_func=np.exp)


@EACH_TARGET
def test_nested_wrappers_match(target: str) -> None:
    X, y = classification(target)
    estimator = fit_quietly(_nested_classifier(), X, y)
    assert_same_both_orders(estimator, extreme_rows(X))


def test_nested_regressors_match() -> None:
    X, y = regression()
    estimator = fit_quietly(_nested_regressor(), X, y)
    assert_same_both_orders(estimator, np.vstack([X, 2 * X, -X]))


def test_a_wrapper_plan_evaluates_without_sklearn(tmp_path: Path) -> None:
    X, y = classification("multiclass-int")  # the helper saves outputs without pickle
    estimator = fit_quietly(_nested_classifier(), X, y)
    rows = extreme_rows(X)
    outputs = run_without_sklearn(estimator, rows, tmp_path)
    assert np.array_equal(outputs["predict"], estimator.predict(rows))
    assert close(outputs["predict_proba"], estimator.predict_proba(rows))
    assert "decision_function" not in outputs  # nor has the calibrated final estimator


def test_a_regressor_wrapper_plan_evaluates_without_sklearn(tmp_path: Path) -> None:
    X, y = regression()
    estimator = fit_quietly(_nested_regressor(), X, y)
    outputs = run_without_sklearn(estimator, X, tmp_path)
    assert close(outputs["predict"], estimator.predict(X))


def test_a_part_deep_inside_is_named_in_the_reason() -> None:
    X, y = classification("multiclass-int")
    inner = sk("multiclass.OneVsRestClassifier")(sk("svm.SVC")())
    estimator = fit_quietly(
        sk("ensemble.VotingClassifier")([("lr", logistic()), ("ovr", inner)]), X, y
    )
    with pytest.raises(Unplannable) as refusal:
        plan_head(estimator, PlanWriter())
    assert str(refusal.value) == (
        "VotingClassifier: its estimator 'ovr' (OneVsRestClassifier) is not planned: "
        "OneVsRestClassifier: its estimator for class 0 (SVC) is not planned: "
        "SVC has no serving plan"
    )


_PIPELINE_FINALS: dict[str, Any] = {
    "stacking": lambda: sk("ensemble.StackingClassifier")(
        [("lr", logistic()), ("nb", gaussian_nb()), ("tree", small_tree())],
        passthrough=True,
        cv=3,
    ),
    "calibrated-isotonic": lambda: sk("calibration.CalibratedClassifierCV")(
        logistic(), method="isotonic", cv=3
    ),
    "voting-hard": lambda: sk("ensemble.VotingClassifier")(
        [("lr", logistic()), ("tree", small_tree()), ("nb", gaussian_nb())]
    ),
    "one-vs-rest": lambda: sk("multiclass.OneVsRestClassifier")(ridge_classifier()),
    "ttr-log1p": lambda: sk("compose.TransformedTargetRegressor")(
        sk("linear_model.Ridge")(), func=np.log1p, inverse_func=np.expm1
    ),
    "stacking-regressor": lambda: sk("ensemble.StackingRegressor")(
        [("ridge", sk("linear_model.Ridge")()), ("tree", sk("tree.DecisionTreeRegressor")())],
        passthrough=True,
        cv=3,
    ),
}


@pytest.mark.parametrize("final", list(_PIPELINE_FINALS))
def test_a_pipeline_ending_in_a_wrapper_is_planned_and_proven_at_register(final: str) -> None:
    """The register's own proof (`make_plan`: the training rows, then rows with each feature
    missing, unseen or extreme) on the reference churn pipeline with a wrapper at its end."""
    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import matrix_order
    from chalicelib.stats import infer_signature
    from sklambda.sample_data import FEATURES, TARGET, churn_frame, reference_pipeline

    regression = final in ("ttr-log1p", "stacking-regressor")
    target = "tenure_months" if regression else TARGET
    features = [name for name in FEATURES if name != target]
    model = reference_pipeline("logreg")
    model.steps[0][1].transformers = [  # the target is no longer a feature
        (name, step, [column for column in columns if column in features])
        for name, step, columns in model.steps[0][1].transformers
    ]
    model.steps[-1] = ("model", _PIPELINE_FINALS[final]())
    frame = churn_frame(400, seed=3, missing_rate=0.05)[[*features, target]]
    fit_quietly(model, frame[features], frame[target])
    signature = infer_signature(model, frame, target)["features"]
    order = matrix_order(model, frame, signature)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # extreme edge rows overflow, on both sides alike
        files, info, _ = make_plan(model, frame, signature, str(order))
    assert info["state"] == "planned", info
    assert info["rows_checked"] > len(frame)  # the training rows and the edge rows
    assert files


_NAN_FINALS: dict[str, tuple[Any, bool]] = {  # (the final estimator, it takes NaN?)
    "calibrated-hgb": (lambda: sk("calibration.CalibratedClassifierCV")(small_hgb(), cv=3), True),
    "one-vs-rest-hgb": (lambda: sk("multiclass.OneVsRestClassifier")(small_hgb()), True),
    "stacking-hgb": (lambda: sk("ensemble.StackingClassifier")([("hgb", small_hgb())], cv=3), True),
    "calibrated-logistic": (
        lambda: sk("calibration.CalibratedClassifierCV")(logistic(), cv=3),
        False,
    ),
    "voting-hgb-logistic": (
        lambda: sk("ensemble.VotingClassifier")([("hgb", small_hgb()), ("lr", logistic())]),
        False,
    ),
}


@pytest.mark.parametrize("final", list(_NAN_FINALS))
def test_missing_values_reach_the_parts_as_in_scikit_learn(final: str) -> None:
    """A wrapper checks nothing itself (OneVsRest and calibration even say they take no NaN):
    NaN reaches its parts, which answer it (HistGradientBoosting) or refuse it (logistic
    regression), in the plan as in the pipeline. Missing numbers are passed through."""
    from chalicelib.registry._planning import make_plan
    from chalicelib.scoring import matrix_order
    from chalicelib.stats import infer_signature

    make, takes_nan = _NAN_FINALS[final]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = (frame["b"] + rng.normal(size=200) > 0).astype(int)
    if takes_nan:
        frame.loc[::5, "a"] = np.nan
    columns = sk("compose.ColumnTransformer")([("numbers", "passthrough", ["a", "b"])])
    model = fit_quietly(
        sk("pipeline.make_pipeline")(columns, make()), frame[["a", "b"]], frame["y"]
    )
    signature = infer_signature(model, frame, "y")["features"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info, _ = make_plan(model, frame, signature, str(matrix_order(model, frame, signature)))
    assert info["state"] == "planned", info
