"""The input signature of a fitted model, inferred from the estimator and its training data.

The signature (feature names, types, categorical levels, target, task, classes) is stored in
each version's metadata; scoring validates records against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

# Beyond this many levels a column is more of an identifier than a category; the levels are
# not listed (validation then cannot flag unseen ones for it).
MAX_LEVELS = 1000

NUMBER = "number"
BOOLEAN = "boolean"
CATEGORY = "category"


class Feature(TypedDict):
    """One input column as registered: its kind, dtype, nullability and levels seen."""

    name: str
    type: str  # number | boolean | category
    dtype: str
    nullable: bool
    levels: NotRequired[list[str] | None]  # categories; None when there were too many
    n_levels: NotRequired[int]


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


def infer_signature(estimator: Any, frame: pd.DataFrame, target: str) -> Signature:
    """The signature of `estimator` given the frame it was trained on and its target column."""
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
    features = [describe_column(name, frame[name]) for name in names]
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


def describe_column(name: str, series: pd.Series) -> Feature:
    """One feature of the signature: name, type, nullability and, for categories, levels."""
    kind = column_type(series)
    described: Feature = {
        "name": name,
        "type": kind,
        "dtype": str(series.dtype),
        "nullable": bool(series.isna().any()),
    }
    if kind == CATEGORY:
        levels = sorted({str(v) for v in series.dropna().unique()})
        if len(levels) > MAX_LEVELS:
            described["levels"] = None
            described["n_levels"] = len(levels)
        else:
            described["levels"] = levels
    return described


def to_json_scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value JSON can hold."""
    return value.item() if hasattr(value, "item") else value


def input_json_schema(features: Sequence[Feature]) -> dict[str, Any]:
    """A JSON Schema of one input record, for clients and documentation."""
    properties: dict[str, Any] = {}
    for feature in features:
        if feature["type"] == NUMBER:
            spec: dict[str, Any] = {"type": ["number", "null"]}
        elif feature["type"] == BOOLEAN:
            spec = {"type": ["boolean", "null"]}
        else:
            spec = {"type": ["string", "null"]}
            levels = feature.get("levels")
            if levels is not None:
                spec["examples"] = levels[:20]
                spec["x-levels-seen"] = levels
        properties[feature["name"]] = spec
    return {
        "type": "object",
        "required": [f["name"] for f in features],
        "properties": properties,
        "additionalProperties": True,
    }
