"""The input signature of a fitted model, inferred from the estimator and its training data.

The signature (feature names, types, categorical levels, target, task, classes) is stored in
each version's metadata; scoring validates records against it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.core import InvalidInputError
from chalicelib.stats._columns import (
    BOOLEAN,
    CATEGORY,
    DATETIME,
    NUMBER,
    Feature,
    describe_column,
    to_json_scalar,
)

if TYPE_CHECKING:
    import pandas as pd


class Target(TypedDict):
    """The target column: its name and kind."""

    name: str
    type: str


class Signature(TypedDict):
    """What a model reads and predicts: its features in order, target, task and classes."""

    features: list[Feature]
    target: Target
    task: str  # classification | regression
    classes: list[Any] | None


def check_estimator(estimator: Any) -> None:
    """Refuse objects that are not fitted scikit-learn classifiers or regressors."""
    from sklearn.base import is_classifier, is_regressor
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(estimator, "predict") or not hasattr(estimator, "get_params"):
        raise InvalidInputError(
            f"the model file holds a {type(estimator).__name__}, not a scikit-learn estimator: "
            "save the fitted estimator or pipeline with joblib.dump(model, 'model.joblib')"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise InvalidInputError(
            f"the {type(estimator).__name__} is not fitted: call fit() on it before saving"
        ) from None
    except TypeError:
        pass  # check_is_fitted rejects some meta-estimators it cannot inspect; predict will tell
    if not (is_classifier(estimator) or is_regressor(estimator)):
        raise InvalidInputError(
            f"{type(estimator).__name__} is neither a classifier nor a regressor: "
            "only supervised models can be registered"
        )


def infer_signature(
    estimator: Any,
    frame: pd.DataFrame,
    target: str,
    missing_markers: Mapping[str, Collection[str]] | None = None,
) -> Signature:
    """The signature of `estimator` given the frame it was trained on and its target column.

    `missing_markers` names, per column, text that means a missing value (besides an empty
    cell), as the training file was read.
    """
    from sklearn.base import is_classifier

    check_estimator(estimator)
    if target not in frame.columns:
        raise InvalidInputError(
            f"target column {target!r} is not in the training data; "
            f"its columns are: {', '.join(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise InvalidInputError("the training data has no rows")
    names = feature_names(estimator, frame, target)
    markers = dict(missing_markers or {})
    unknown = sorted(set(markers) - set(names))
    if unknown:
        raise InvalidInputError(
            f"missing-value markers name columns the model does not read: {', '.join(unknown)}"
        )
    features = [describe_column(name, frame[name], markers.get(name, ())) for name in names]
    target_column: Target = {"name": target, "type": column_type(frame[target])}
    if is_classifier(estimator):
        classes = [to_json_scalar(c) for c in getattr(estimator, "classes_", [])]
        return {
            "features": features,
            "target": target_column,
            "task": "classification",
            "classes": classes,
        }
    return {"features": features, "target": target_column, "task": "regression", "classes": None}


def feature_names(estimator: Any, frame: pd.DataFrame, target: str) -> list[str]:
    """The input columns in the order the estimator reads them."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        names = [str(n) for n in fitted]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInputError(
                "the training data lacks columns the model was fitted on: "
                + ", ".join(missing)
                + "; pass the same data the model was trained on"
            )
        if target in names:
            raise InvalidInputError(
                f"the model was fitted with the target {target!r} as an input feature; "
                "drop it from X before fitting"
            )
        return names
    names = [str(c) for c in frame.columns if c != target]
    expected = getattr(estimator, "n_features_in_", len(names))
    if expected != len(names):
        raise InvalidInputError(
            f"the model expects {expected} features but the training data has {len(names)} "
            "besides the target; fit the model on a DataFrame so its column names are known, "
            "or pass only the feature columns and the target"
        )
    return names


def column_type(series: pd.Series) -> str:
    """number, boolean or category, from a pandas column's dtype."""
    from pandas.api import types

    if types.is_bool_dtype(series):
        return BOOLEAN
    if types.is_numeric_dtype(series):
        return NUMBER
    return CATEGORY


def input_json_schema(features: Sequence[Feature]) -> dict[str, Any]:
    """A JSON Schema of one input record, for clients and documentation."""
    properties: dict[str, Any] = {}
    for feature in features:
        kind = feature["type"]
        if kind == NUMBER:
            whole = feature["dtype"].lower().startswith(("int", "uint"))
            spec: dict[str, Any] = {"type": ["integer" if whole else "number", "null"]}
        elif kind == BOOLEAN:
            spec = {"type": ["boolean", "null"]}
        elif kind == DATETIME:
            spec = {"type": ["string", "null"], "format": "date-time"}
        else:
            value_type = feature.get("value_type", "str")
            json_type = {"int": "integer", "float": "number", "bool": "boolean"}
            spec = {"type": [json_type.get(value_type, "string"), "null"]}
            levels = feature.get("levels")
            if levels is not None:
                spec["examples"] = levels[:20]
                spec["x-levels-seen"] = levels
        if feature.get("missing_markers"):
            spec["x-missing-markers"] = feature["missing_markers"]
        properties[feature["name"]] = spec
    return {
        "type": "object",
        "required": [f["name"] for f in features],
        "properties": properties,
        "additionalProperties": True,
    }
