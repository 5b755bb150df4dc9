"""Model quality from predictions joined with ground truth.

Pure: no AWS, and scikit-learn's metrics are imported only when a metric is computed, so
importing this module stays cheap for the Lambdas.

Ground truth comes from users through JSON or CSV, so an actual class may not have the type of
the model's classes (``1`` vs ``"1"`` vs ``1.0`` vs ``True``). Both sides are compared through
:func:`class_key`; actuals that match no class are counted, not scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.stats._schema import to_json_scalar

CLASSIFICATION = "classification"
REGRESSION = "regression"
DIGITS = 6


def class_key(value: Any) -> str:
    """The comparable form of a class label, the same for 1, 1.0, "1" and numpy's 1.

    Booleans are "True"/"False", integral floats the str of the int, anything else its str.
    """
    value = to_json_scalar(value)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def quality(
    task: str,
    classes: Sequence[Any] | None,
    actual: Sequence[Any],
    predicted: Sequence[Any],
    probabilities: Sequence[Mapping[str, float] | None] | None = None,
) -> dict[str, Any]:
    """The quality of a model version's predictions against ground truth, by task."""
    check_task(task, classes)
    if task == REGRESSION:
        return regression_quality(actual, predicted)
    return classification_quality(actual, predicted, probabilities, classes or ())


def check_task(task: str, classes: Sequence[Any] | None) -> None:
    """Refuse an unknown task, or classification without the model's classes."""
    if task == CLASSIFICATION:
        if not classes:
            raise ValueError("classification quality needs the model's classes")
    elif task != REGRESSION:
        raise ValueError(f"unknown task {task!r}: expected {CLASSIFICATION!r} or {REGRESSION!r}")


def classification_quality(
    actual: Sequence[Any],
    predicted: Sequence[Any],
    probabilities: Sequence[Mapping[str, float] | None] | None,
    classes: Sequence[Any],
) -> dict[str, Any]:
    """Accuracy, precision, recall, ROC AUC and log loss of a classifier's predictions.

    ``classes`` is the model's class order (scikit-learn's ``classes_``). With two classes,
    precision and recall are of the positive class ``classes[1]`` and ROC AUC is computed from
    its probability; with more, they are macro averages over the classes present among the
    actuals and predictions, and ROC AUC is one-vs-rest over the classes present among the
    actuals. ROC AUC is left out when fewer than two classes are present among the actuals,
    and ROC AUC and log loss when any scored row has no usable probabilities.

    The result is ``{"labelled": n, "metrics": {...}}`` where n counts the rows scored, plus
    ``"unknown_actuals": k`` when k > 0 actuals matched no class (and were left out).
    """
    _check_lengths(actual, predicted, probabilities)
    index = class_index(classes)

    y_true: list[int] = []
    y_pred: list[int] = []
    rows: list[int] = []
    unknown = 0
    for row, (a, p) in enumerate(zip(actual, predicted, strict=True)):
        true = index.get(class_key(a))
        if true is None:
            unknown += 1
            continue
        y_true.append(true)
        y_pred.append(predicted_index(index, p))
        rows.append(row)

    result: dict[str, Any] = {"labelled": len(y_true), "metrics": {}}
    if unknown:
        result["unknown_actuals"] = unknown
    if not y_true:
        return result

    from sklearn.metrics import accuracy_score, precision_score, recall_score

    metrics: dict[str, Any] = {"accuracy": accuracy_score(y_true, y_pred)}
    labels = averaged_labels(len(classes), set(y_true) | set(y_pred))
    averaging: dict[str, Any] = {"labels": labels, "average": "macro", "zero_division": 0}
    metrics["precision"] = precision_score(y_true, y_pred, **averaging)
    metrics["recall"] = recall_score(y_true, y_pred, **averaging)

    proba = _probability_matrix(probabilities, rows, classes)
    if proba is not None and len(classes) >= 2:
        roc_auc = _roc_auc(y_true, proba, len(classes))
        if roc_auc is not None:
            metrics["roc_auc"] = roc_auc
        from sklearn.metrics import log_loss

        metrics["log_loss"] = log_loss(y_true, proba, labels=list(range(len(classes))))

    result["metrics"] = rounded(metrics)
    return result


def regression_quality(actual: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
    """Mean absolute error, root mean squared error and (when defined) R² of a regressor.

    The result is ``{"labelled": n, "metrics": {...}}`` where n counts the rows scored, plus
    ``"unusable_actuals": k`` when k > 0 actuals were not finite numbers (and were left out),
    and ``"unusable_predictions"`` likewise for predictions. R² needs at least two rows and
    actuals that vary.
    """
    _check_lengths(actual, predicted, None)
    y_true: list[float] = []
    y_pred: list[float] = []
    unusable_actuals = unusable_predictions = 0
    for a, p in zip(actual, predicted, strict=True):
        true, pred = finite_number(a), finite_number(p)
        if true is None:
            unusable_actuals += 1
        elif pred is None:
            unusable_predictions += 1
        else:
            y_true.append(true)
            y_pred.append(pred)

    result: dict[str, Any] = {"labelled": len(y_true), "metrics": {}}
    if unusable_actuals:
        result["unusable_actuals"] = unusable_actuals
    if unusable_predictions:
        result["unusable_predictions"] = unusable_predictions
    if not y_true:
        return result

    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    metrics: dict[str, Any] = {
        "mae": mean_absolute_error(y_true, y_pred),
        "rmse": root_mean_squared_error(y_true, y_pred),
    }
    if len(y_true) >= 2 and max(y_true) > min(y_true):
        metrics["r2"] = r2_score(y_true, y_pred)
    result["metrics"] = rounded(metrics)
    return result


def _check_lengths(
    actual: Sequence[Any], predicted: Sequence[Any], probabilities: Sequence[Any] | None
) -> None:
    if len(actual) != len(predicted):
        raise ValueError(f"{len(actual)} actual values but {len(predicted)} predictions")
    if probabilities is not None and len(probabilities) != len(actual):
        raise ValueError(f"{len(actual)} actual values but {len(probabilities)} probabilities")


def _probability_matrix(
    probabilities: Sequence[Mapping[str, float] | None] | None,
    rows: Sequence[int],
    classes: Sequence[Any],
) -> list[list[float]] | None:
    """Rows of class probabilities in ``classes`` order (see :func:`probability_row`); None if
    any row is unusable."""
    if probabilities is None:
        return None
    keys = probability_keys(classes)
    matrix: list[list[float]] = []
    for row in rows:
        values = probability_row(probabilities[row], keys)
        if values is None:
            return None
        matrix.append(values)
    return matrix


def _roc_auc(y_true: Sequence[int], proba: Sequence[Sequence[float]], n_classes: int) -> Any:
    """Binary ROC AUC of the positive class, or one-vs-rest macro over the classes present."""
    present = sorted(set(y_true))
    if len(present) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    if n_classes == 2:
        return roc_auc_score([t == 1 for t in y_true], [p[1] for p in proba])
    # scikit-learn's own one-vs-rest refuses classes absent from y_true; average the rest.
    scores = [roc_auc_score([t == c for t in y_true], [p[c] for p in proba]) for c in present]
    return math.fsum(float(s) for s in scores) / len(scores)


def class_index(classes: Sequence[Any]) -> dict[str, int]:
    """Each class's :func:`class_key` mapped to its position; refuses keys that collide."""
    index: dict[str, int] = {}
    for i, cls in enumerate(classes):
        key = class_key(cls)
        if key in index:
            raise ValueError(f"classes {classes[index[key]]!r} and {cls!r} cannot be told apart")
        index[key] = i
    return index


def predicted_index(index: Mapping[str, int], prediction: Any) -> int:
    """A prediction's class position, or -1 outside the classes (it then counts as wrong)."""
    return index.get(class_key(prediction), -1)


def averaged_labels(n_classes: int, present: set[int]) -> list[int]:
    """The class positions precision and recall average over (the positive class if binary)."""
    if n_classes == 2:
        return [1]  # scikit-learn's positive class; labels=, as a wrong label may be -1
    return [i for i in range(n_classes) if i in present]


def probability_keys(classes: Sequence[Any]) -> list[tuple[str, str]]:
    """For each class, the key its probability is stored under and the one tried next."""
    return [(str(c), class_key(c)) for c in classes]


def probability_row(given: Any, keys: Sequence[tuple[str, str]]) -> list[float] | None:
    """One row's class probabilities in ``keys`` order, summing to 1; None if unusable.

    Renormalised so probabilities rounded in storage still pass scikit-learn's checks.
    """
    if not isinstance(given, Mapping):
        return None
    values: list[float] = []
    for key, alternative in keys:
        value = finite_number(given.get(key, given.get(alternative)))
        if value is None or value < 0:
            return None
        values.append(value)
    total = math.fsum(values)
    if total <= 0:
        return None
    return [v / total for v in values]


def finite_number(value: Any) -> float | None:
    """A finite float from a number or numeric string; None for anything else (incl. bools)."""
    value = to_json_scalar(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def rounded(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics as floats rounded to the digits reports show."""
    return {name: round(float(value), DIGITS) for name, value in metrics.items()}
