"""TransformedTargetRegressor plans answer as the estimator does: each allowed numpy inverse
function, none, StandardScaler (with and without mean or scale), a FunctionTransformer given
as the transformer, several targets; and what is not planned is refused, naming it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.scoring.plans._format import PlanWriter, Unplannable
from chalicelib.scoring.plans._heads import plan_head
from tests.scoring.plans.checks import close, planned
from tests.scoring.plans.numeric_cases import assert_same_both_orders, extreme_rows, rows
from tests.scoring.plans.wrapper_cases import Cases, fit_quietly, regression, sk


def _ttr(regressor: Callable[[], Any] | None = None, **params: Any) -> Callable[[], Any]:
    make = regressor or sk("linear_model.Ridge")
    return lambda: sk("compose.TransformedTargetRegressor")(make(), check_inverse=False, **params)


def _scaler(**params: Any) -> Any:
    return sk("preprocessing.StandardScaler")(**params)


def _tree() -> Any:
    return sk("tree.DecisionTreeRegressor")(max_depth=4, random_state=0)


CASES = Cases(
    {
        "log-exp": _ttr(func=np.log, inverse_func=np.exp),
        "exp-log": _ttr(func=np.exp, inverse_func=np.log),
        "log1p-expm1": _ttr(func=np.log1p, inverse_func=np.expm1),
        "expm1-log1p": _ttr(func=np.expm1, inverse_func=np.log1p),
        "sqrt-square": _ttr(func=np.sqrt, inverse_func=np.square),
        "square-sqrt": _ttr(func=np.square, inverse_func=np.sqrt),
        "identity": _ttr(),
        "scaler": _ttr(transformer=_scaler()),
        "scaler-no-mean": _ttr(transformer=_scaler(with_mean=False)),
        "scaler-no-std": _ttr(transformer=_scaler(with_std=False)),
        "function-transformer": _ttr(
            transformer=sk("preprocessing.FunctionTransformer")(
                func=np.log1p, inverse_func=np.expm1
            )
        ),
        "tree-log-exp": _ttr(_tree, func=np.log, inverse_func=np.exp),
        "tree-scaler": _ttr(_tree, transformer=_scaler()),
        "voting-sqrt-square": _ttr(
            lambda: sk("ensemble.VotingRegressor")(
                [("ridge", sk("linear_model.Ridge")()), ("tree", _tree())], weights=[2, 1]
            ),
            func=np.sqrt,
            inverse_func=np.square,
        ),
    }
)


def _moderate(X: np.ndarray) -> np.ndarray:
    """The data, scaled, and zeros: exp of the predictions stays finite."""
    return np.vstack([X, X * 3, X * -2, np.zeros((2, X.shape[1]))])


@pytest.mark.parametrize("name", CASES.names)
def test_transformed_target_regressor_matches(name: str) -> None:
    estimator, X = CASES.regressor(name)
    assert_same_both_orders(estimator, _moderate(X))
    with np.errstate(invalid="ignore"):  # log of a negative prediction: NaN on both sides
        assert planned(estimator).predict(X).ndim == 1


@pytest.mark.parametrize("name", CASES.names)
def test_extreme_rows_overflow_alike(name: str) -> None:
    """Large rows overflow exp or give NaN from log alike; both sides finish or both refuse."""
    estimator, X = CASES.regressor(name)
    with np.errstate(all="ignore"):
        try:
            expected = estimator.predict(extreme_rows(X))
        except ValueError:
            with pytest.raises(ValueError):
                planned(estimator).predict(extreme_rows(X))
            return
        assert close(planned(estimator).predict(extreme_rows(X)), expected)


@pytest.mark.parametrize("name", ["log-exp", "expm1-log1p", "scaler", "voting-sqrt-square"])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_on_generated_rows(name: str, data: st.DataObject) -> None:
    estimator, X = CASES.regressor(name)
    assert_same_both_orders(estimator, data.draw(rows(X)))


def test_several_targets_with_a_scaler() -> None:
    X, y = regression()
    estimator = fit_quietly(
        sk("compose.TransformedTargetRegressor")(sk("linear_model.Ridge")(), transformer=_scaler()),
        X,
        np.c_[y, np.sqrt(y)],
    )
    assert_same_both_orders(estimator, _moderate(X))
    assert planned(estimator).predict(X).shape == (len(X), 2)


def test_an_infinite_prediction_is_refused_as_scikit_learn_refuses_it() -> None:
    estimator, X = CASES.regressor("scaler")
    huge = np.full((1, X.shape[1]), 1e308) * np.sign(estimator.regressor_.coef_)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="infinity"):
        estimator.predict(huge)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="infinity"):
        planned(estimator).predict(huge)


def _refused(**params: Any) -> str:
    X, y = regression()
    estimator = fit_quietly(
        sk("compose.TransformedTargetRegressor")(
            sk("linear_model.Ridge")(), check_inverse=False, **params
        ),
        X,
        y,
    )
    with pytest.raises(Unplannable) as refusal:
        plan_head(estimator, PlanWriter())
    return str(refusal.value)


def test_other_functions_are_refused_by_name() -> None:
    assert "inverse_func '<lambda>' is not planned" in _refused(
        func=np.log, inverse_func=lambda y: np.exp(y)
    )
    assert "inverse_func 'cbrt' is not planned" in _refused(
        func=lambda y: y**3, inverse_func=np.cbrt
    )


def test_other_transformers_are_refused_by_name() -> None:
    quantiles = sk("preprocessing.QuantileTransformer")(n_quantiles=50)
    assert "a QuantileTransformer transformer is not planned" in _refused(transformer=quantiles)
    keyword = sk("preprocessing.FunctionTransformer")(
        func=np.log, inverse_func=np.exp, inv_kw_args={"dtype": np.float64}
    )
    assert "inv_kw_args" in _refused(transformer=keyword)


def test_a_pipeline_regressor_is_refused() -> None:
    pipeline = sk("pipeline.make_pipeline")(_scaler(), sk("linear_model.Ridge")())
    X, y = regression()
    estimator = fit_quietly(sk("compose.TransformedTargetRegressor")(pipeline), X, y)
    with pytest.raises(Unplannable, match="a pipeline inside TransformedTargetRegressor"):
        plan_head(estimator, PlanWriter())
