from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

from chalicelib.core import InvalidInputError
from chalicelib.stats import infer_signature
from sklambda.sample_data import CATEGORICAL_LEVELS, FEATURES, TARGET
from tests.models import fitted_logreg, fitted_regressor, training_frame


def test_signature_lists_features_in_model_order_with_types_and_levels() -> None:
    signature = infer_signature(fitted_logreg(), training_frame(), TARGET)
    assert [f["name"] for f in signature["features"]] == FEATURES
    by_name = {f["name"]: f for f in signature["features"]}
    assert by_name["tenure_months"]["type"] == "number"
    assert by_name["contract"]["type"] == "category"
    assert by_name["contract"]["levels"] == sorted(CATEGORICAL_LEVELS["contract"])
    assert by_name["payment_method"]["nullable"] is True
    assert signature["task"] == "classification"
    assert signature["classes"] == [0, 1]
    assert signature["target"] == {"name": TARGET, "type": "number"}


def test_id_columns_the_model_does_not_read_are_not_features() -> None:
    signature = infer_signature(fitted_logreg(), training_frame(), TARGET)
    assert "customer_id" not in [f["name"] for f in signature["features"]]


def test_regressor_has_no_classes() -> None:
    frame = training_frame()
    signature = infer_signature(fitted_regressor(), frame, "monthly_charges")
    assert signature["task"] == "regression" and signature["classes"] is None


def test_missing_target_lists_the_columns() -> None:
    with pytest.raises(InvalidInputError, match="target column 'churn' is not in"):
        infer_signature(fitted_logreg(), training_frame(), "churn")


def test_unfitted_estimator_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not fitted"):
        infer_signature(LogisticRegression(), training_frame(), TARGET)


def test_non_estimator_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a scikit-learn estimator"):
        infer_signature({"weights": [1, 2]}, training_frame(), TARGET)


def test_training_data_missing_model_columns_is_refused() -> None:
    frame = training_frame().drop(columns=["age"])
    with pytest.raises(InvalidInputError, match="lacks columns the model was fitted on: age"):
        infer_signature(fitted_logreg(), frame, TARGET)
