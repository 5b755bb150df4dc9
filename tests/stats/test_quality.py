from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from chalicelib.stats import class_key, classification_quality, quality, regression_quality

CLASSES = [0, 1]


def binary_probabilities(p1: list[float]) -> list[dict[str, float]]:
    return [{"0": 1 - p, "1": p} for p in p1]


def test_class_key_treats_json_and_csv_spellings_alike() -> None:
    assert class_key(1) == class_key("1") == class_key(1.0) == class_key(np.int64(1)) == "1"
    assert class_key(np.float64(2.0)) == "2"
    assert class_key(True) == class_key(np.bool_(True)) == class_key("True") == "True"
    assert class_key(False) == "False"
    assert class_key(1.5) == "1.5"
    assert class_key("yes") == "yes"


def test_perfect_predictions() -> None:
    actual = [0, 1, 0, 1, 1, 0]
    p1 = [0.1, 0.9, 0.2, 0.8, 0.7, 0.3]
    result = classification_quality(actual, actual, binary_probabilities(p1), CLASSES)
    assert result["labelled"] == 6
    assert "unknown_actuals" not in result
    metrics = result["metrics"]
    assert metrics["accuracy"] == 1.0
    assert metrics["precision"] == 1.0
    assert metrics["recall"] == 1.0
    assert metrics["roc_auc"] == 1.0
    assert metrics["log_loss"] == pytest.approx(log_loss(actual, p1), abs=1e-6)
    assert all(type(v) is float for v in metrics.values())


def test_flipping_half_the_labels_halves_accuracy_and_recall() -> None:
    actual = [1, 1, 1, 1, 0, 0, 0, 0]
    # Two of the four positives and two of the four negatives predicted wrong.
    predicted = [1, 1, 0, 0, 0, 0, 1, 1]
    metrics = classification_quality(actual, predicted, [None] * 8, CLASSES)["metrics"]
    assert metrics["accuracy"] == 0.5
    assert metrics["recall"] == 0.5
    assert metrics["precision"] == 0.5
    assert "roc_auc" not in metrics and "log_loss" not in metrics


def test_precision_and_recall_are_of_the_second_class() -> None:
    classes = ["no", "yes"]
    actual = ["yes", "yes", "yes", "no"]
    predicted = ["yes", "no", "no", "yes"]
    metrics = classification_quality(actual, predicted, None, classes)["metrics"]
    assert metrics["recall"] == pytest.approx(1 / 3, abs=1e-6)
    assert metrics["precision"] == 0.5
    assert metrics["recall"] == round(recall_score(actual, predicted, pos_label="yes"), 6)


def test_string_float_and_bool_actuals_match_the_classes() -> None:
    p1 = [0.2, 0.9, 0.4, 0.6]
    result = classification_quality(
        ["0", 1.0, "0", np.int64(1)], [0, 1, 0, 1], binary_probabilities(p1), CLASSES
    )
    assert result["labelled"] == 4
    assert "unknown_actuals" not in result
    assert result["metrics"]["accuracy"] == 1.0
    assert result["metrics"]["roc_auc"] == 1.0

    bools = classification_quality(
        ["True", False, "False"], [True, False, True], None, [False, True]
    )
    assert bools["labelled"] == 3
    assert bools["metrics"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)


def test_unknown_actuals_are_counted_and_left_out() -> None:
    actual = [0, 1, "maybe", None, 2, 1]
    predicted = [0, 1, 1, 0, 0, 0]
    p1 = [0.1, 0.8, 0.5, 0.5, 0.5, 0.4]
    result = classification_quality(actual, predicted, binary_probabilities(p1), CLASSES)
    assert result["labelled"] == 3
    assert result["unknown_actuals"] == 3
    metrics = result["metrics"]
    assert metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    # Only the kept rows' probabilities are scored.
    assert metrics["roc_auc"] == round(roc_auc_score([0, 1, 1], [0.1, 0.8, 0.4]), 6)
    assert metrics["log_loss"] == round(log_loss([0, 1, 1], [0.1, 0.8, 0.4]), 6)


def test_only_unknown_or_no_actuals_give_no_metrics() -> None:
    assert classification_quality([], [], [], CLASSES) == {"labelled": 0, "metrics": {}}
    assert classification_quality(["x"], [1], [None], CLASSES) == {
        "labelled": 0,
        "metrics": {},
        "unknown_actuals": 1,
    }


def test_single_class_actuals_omit_roc_auc() -> None:
    p1 = [0.9, 0.6, 0.3]
    result = classification_quality([1, 1, 1], [1, 1, 0], binary_probabilities(p1), CLASSES)
    metrics = result["metrics"]
    assert "roc_auc" not in metrics
    assert metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["log_loss"] == round(log_loss([1, 1, 1], p1, labels=[0, 1]), 6)


def test_missing_probabilities_for_any_row_omit_roc_auc_and_log_loss() -> None:
    probabilities: list[dict[str, float] | None] = [{"0": 0.8, "1": 0.2}, None]
    metrics = classification_quality([0, 1], [0, 1], probabilities, CLASSES)["metrics"]
    assert metrics["accuracy"] == 1.0
    assert "roc_auc" not in metrics and "log_loss" not in metrics

    incomplete = [{"0": 0.8, "1": 0.2}, {"1": 0.9}]
    metrics = classification_quality([0, 1], [0, 1], incomplete, CLASSES)["metrics"]
    assert "roc_auc" not in metrics and "log_loss" not in metrics


def test_multiclass_macro_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    classes = ["a", "b", "c"]
    actual = rng.choice(classes, size=60).tolist()
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=60)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    probabilities = [dict(zip(classes, row, strict=True)) for row in proba.tolist()]

    metrics = classification_quality(actual, predicted, probabilities, classes)["metrics"]
    assert metrics["accuracy"] == round(accuracy_score(actual, predicted), 6)
    assert metrics["precision"] == round(
        precision_score(actual, predicted, average="macro", zero_division=0), 6
    )
    assert metrics["recall"] == round(
        recall_score(actual, predicted, average="macro", zero_division=0), 6
    )
    assert metrics["roc_auc"] == pytest.approx(
        roc_auc_score(actual, proba, multi_class="ovr", average="macro", labels=classes), abs=1e-6
    )
    assert metrics["log_loss"] == pytest.approx(log_loss(actual, proba, labels=classes), abs=1e-6)


def test_multiclass_log_loss_follows_the_model_class_order_not_string_order() -> None:
    classes = [2, 9, 10]  # as strings "10" < "2" < "9"
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]])
    actual = [2, 9, 10, 9]
    probabilities = [dict(zip(["2", "9", "10"], row, strict=True)) for row in proba.tolist()]
    metrics = classification_quality(actual, [2, 9, 10, 2], probabilities, classes)["metrics"]
    assert metrics["log_loss"] == pytest.approx(log_loss(actual, proba, labels=classes), abs=1e-6)
    assert metrics["roc_auc"] == pytest.approx(
        roc_auc_score(actual, proba, multi_class="ovr", labels=classes), abs=1e-6
    )


def test_multiclass_roc_auc_averages_the_classes_present() -> None:
    classes = ["a", "b", "c"]
    proba = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.3, 0.6, 0.1]]
    probabilities = [dict(zip(classes, row, strict=True)) for row in proba]
    actual = ["a", "b", "a", "b"]  # no "c"
    metrics = classification_quality(actual, ["a", "b", "a", "b"], probabilities, classes)[
        "metrics"
    ]
    expected = (
        roc_auc_score([1, 0, 1, 0], [0.6, 0.2, 0.5, 0.3])
        + roc_auc_score([0, 1, 0, 1], [0.3, 0.7, 0.4, 0.6])
    ) / 2
    assert metrics["roc_auc"] == pytest.approx(expected, abs=1e-6)
    assert metrics["precision"] == 1.0  # "c" neither actual nor predicted: not averaged in


def test_probabilities_rounded_in_storage_are_renormalised() -> None:
    classes = ["a", "b", "c"]
    probabilities = [{"a": 0.33, "b": 0.33, "c": 0.33}, {"a": 0.1, "b": 0.8, "c": 0.1}]
    metrics = classification_quality(["a", "b"], ["a", "b"], probabilities, classes)["metrics"]
    assert metrics["log_loss"] == pytest.approx((math.log(3) - math.log(0.8)) / 2, abs=1e-6)


def test_predictions_outside_the_classes_count_as_wrong() -> None:
    metrics = classification_quality([0, 1, 1], [0, 1, "?"], None, CLASSES)["metrics"]
    assert metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["recall"] == 0.5
    assert metrics["precision"] == 1.0


def test_regression_metrics_against_hand_computed_values() -> None:
    actual = [3.0, -0.5, 2.0, 7.0]
    predicted = [2.5, 0.0, 2.0, 8.0]
    result = regression_quality(actual, predicted)
    assert result["labelled"] == 4
    metrics = result["metrics"]
    assert metrics["mae"] == 0.5  # (0.5 + 0.5 + 0 + 1) / 4
    assert metrics["rmse"] == round(math.sqrt(0.375), 6)  # (0.25 + 0.25 + 0 + 1) / 4
    mean = sum(actual) / 4
    r2 = 1 - 1.5 / sum((a - mean) ** 2 for a in actual)
    assert metrics["r2"] == round(r2, 6)


def test_regression_skips_unusable_actuals() -> None:
    result = regression_quality(
        [1, "2.5", "n/a", None, True, float("nan"), 4], [2, 2, 0, 0, 0, 0, 4]
    )
    assert result["labelled"] == 3
    assert result["unusable_actuals"] == 4
    assert result["metrics"]["mae"] == 0.5  # (1 + 0.5 + 0) / 3


def test_regression_omits_r2_without_variance_or_rows() -> None:
    assert "r2" not in regression_quality([5.0], [4.0])["metrics"]
    metrics = regression_quality([5, 5, 5], [4, 5, 6])["metrics"]
    assert "r2" not in metrics
    assert metrics["mae"] == pytest.approx(2 / 3, abs=1e-6)
    assert regression_quality([], []) == {"labelled": 0, "metrics": {}}


def test_quality_dispatches_on_task() -> None:
    assert quality("regression", None, [1.0, 2.0], [1.0, 2.0], None)["metrics"]["mae"] == 0.0
    result = quality("classification", CLASSES, [0, 1], [0, 1], binary_probabilities([0.2, 0.7]))
    assert result["metrics"]["accuracy"] == 1.0
    with pytest.raises(ValueError, match="unknown task"):
        quality("ranking", None, [], [], None)
    with pytest.raises(ValueError, match="classes"):
        quality("classification", None, [1], [1], None)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        classification_quality([0, 1], [0], None, CLASSES)
    with pytest.raises(ValueError):
        classification_quality([0, 1], [0, 1], [None], CLASSES)
    with pytest.raises(ValueError):
        regression_quality([1.0], [])
