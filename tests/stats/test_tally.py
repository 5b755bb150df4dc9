from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.stats import QualityTally, quality

EXAMPLES = settings(max_examples=80, deadline=None)
UNKNOWN = ["maybe", None, 99, ""]


def tally_of_slices(
    task: str, classes: list[Any] | None, rows: list[tuple[Any, Any, Any]], cuts: list[int]
) -> QualityTally:
    """One tally per slice, each state through JSON, merged into one."""
    bounds = sorted({0, len(rows), *(c % (len(rows) + 1) for c in cuts)})
    merged = QualityTally.for_model(task, classes)
    for start, end in zip(bounds, bounds[1:], strict=False):
        part = QualityTally.for_model(task, classes)
        for actual, predicted, probabilities in rows[start:end]:
            part.add(actual, predicted, probabilities)
        merged.merge(json.loads(json.dumps(part.state())))
    return merged


def reference(task: str, classes: list[Any] | None, rows: list[tuple[Any, Any, Any]]) -> Any:
    actual = [r[0] for r in rows]
    predicted = [r[1] for r in rows]
    return quality(task, classes, actual, predicted, [r[2] for r in rows])


def assert_matches_quality(result: dict[str, Any], expected: dict[str, Any]) -> None:
    counts = ("labelled", "unknown_actuals", "unusable_actuals", "unusable_predictions")
    for key in counts:
        assert result.get(key) == expected.get(key), key
    metrics, wanted = result["metrics"], expected["metrics"]
    assert metrics.keys() == wanted.keys()
    for name, value in wanted.items():
        if name == "roc_auc":
            bound = result["error_bounds"]["roc_auc"]
            assert abs(metrics[name] - value) <= bound + 1e-6 + 1e-12, (name, bound)
        else:
            # Both are rounded to 6 digits, from sums taken in another order: a rounding tie
            # may fall either way. R² of nearly constant actuals divides by a tiny spread,
            # which makes it huge and shows float rounding above the 6th decimal: hence the
            # relative term.
            assert abs(metrics[name] - value) <= 1e-6 + 1e-9 * abs(value), (name, metrics, wanted)
    assert ("error_bounds" in result) == ("roc_auc" in metrics)


@st.composite
def classifications(draw: st.DrawFn) -> tuple[list[Any], list[tuple[Any, Any, Any]]]:
    k = draw(st.integers(2, 5))
    kind = draw(st.sampled_from(["int", "str", "bool"] if k == 2 else ["int", "str"]))
    if kind == "bool":
        classes: list[Any] = [False, True]
    else:
        classes = list(range(k)) if kind == "int" else ["ab", "b", "c d", "10", "2"][:k]
    # Ground truth from JSON or CSV: 1 as "1" or 1.0, True as "True".
    spellings = {
        "int": lambda c: [c, str(c), float(c)],
        "str": lambda c: [c],
        "bool": lambda c: [c, str(c)],
    }[kind]
    label = st.sampled_from(classes).flatmap(lambda c: st.sampled_from(spellings(c)))
    actual = st.one_of(label, label, label, label, st.sampled_from(UNKNOWN))
    predicted = st.one_of(st.sampled_from(classes), st.sampled_from(classes), st.just("?"))
    score = st.one_of(
        st.floats(0, 1),
        st.sampled_from([0.0, 1.0, 0.5, 1e-20, 1 - 1e-12]),
        st.floats(0, 1).map(lambda x: round(x, 2)),  # rounded in storage
    )
    vector = st.fixed_dictionaries({str(c): score for c in classes})
    with_missing = draw(st.sampled_from([False, False, True]))
    probabilities = st.one_of(vector, st.none(), vector.map(lambda v: dict(list(v.items())[1:])))
    row_probabilities = probabilities if with_missing else vector
    size = draw(st.integers(0, 60))
    row = st.tuples(actual, predicted, row_probabilities)
    rows = draw(st.lists(row, min_size=size, max_size=size))
    return classes, rows


def regression_value() -> st.SearchStrategy[Any]:
    number = st.floats(-1e3, 1e3, allow_subnormal=False)
    return st.one_of(
        number,
        number,
        number,
        st.integers(-1000, 1000),
        number.map(str),
        st.sampled_from([None, "n/a", True, math.nan, math.inf]),
    )


slices = st.lists(st.integers(0, 100), max_size=5)


@EXAMPLES
@given(case=classifications(), cuts=slices)
def test_merged_slices_of_classification_match_quality(case: Any, cuts: list[int]) -> None:
    classes, rows = case
    result = tally_of_slices("classification", classes, rows, cuts).result()
    assert_matches_quality(result, reference("classification", classes, rows))


@EXAMPLES
@given(
    rows=st.lists(st.tuples(regression_value(), regression_value(), st.none()), max_size=60),
    cuts=slices,
)
def test_merged_slices_of_regression_match_quality(rows: Any, cuts: list[int]) -> None:
    result = tally_of_slices("regression", None, rows, cuts).result()
    assert_matches_quality(result, reference("regression", None, rows))


@settings(max_examples=40, deadline=None)
@given(case=classifications(), rows=st.lists(st.tuples(regression_value(), regression_value())))
def test_merge_order_does_not_matter(case: Any, rows: Any) -> None:
    classes, labelled = case
    for task, kinds, data in (
        ("classification", classes, labelled),
        ("regression", None, [(a, p, None) for a, p in rows]),
    ):
        thirds = [data[i::3] for i in range(3)]
        states = [tally_of_slices(task, kinds, part, []).state() for part in thirds]
        forward, backward = QualityTally.for_model(task, kinds), QualityTally.for_model(task, kinds)
        for state in states:
            forward.merge(state)
        for state in reversed(states):
            backward.merge(state)
        a, b = forward.result(), backward.result()
        assert_matches_quality(a, b)
        if task == "classification":
            assert a == b  # counts and exact sums: the same to the bit


def test_an_empty_tally_has_no_metrics() -> None:
    for task, classes in (("classification", ["a", "b", "c"]), ("regression", None)):
        empty = QualityTally.for_model(task, classes)
        assert empty.result() == {"labelled": 0, "metrics": {}}
        empty.merge(json.loads(json.dumps(QualityTally.for_model(task, classes).state())))
        assert empty.result() == {"labelled": 0, "metrics": {}}


def test_unknown_task_or_missing_classes_are_refused_as_quality_does() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        QualityTally.for_model("ranking", None)
    with pytest.raises(ValueError, match="classes"):
        QualityTally.for_model("classification", None)
    with pytest.raises(ValueError, match="told apart"):
        QualityTally.for_model("classification", [1, "1"])


def scored_binary(p1: np.ndarray, y: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    actual, predicted = y.tolist(), (p1 > 0.5).astype(int).tolist()
    probabilities = [{"0": 1 - p, "1": p} for p in p1.tolist()]
    tally = QualityTally.for_model("classification", [0, 1])
    for row in zip(actual, predicted, probabilities, strict=True):
        tally.add(*row)
    return tally.result(), quality("classification", [0, 1], actual, predicted, probabilities)


def test_bound_for_20000_logistic_scores_is_0_000509_below_0_001() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 20_000)
    p1 = 1 / (1 + np.exp(-(rng.normal(0, 1, y.size) + (2 * y - 1))))
    result, expected = scored_binary(p1, y)
    bound = result["error_bounds"]["roc_auc"]
    assert bound == pytest.approx(0.000509, abs=2e-6)  # measured
    assert bound < 0.001
    assert abs(result["metrics"]["roc_auc"] - expected["metrics"]["roc_auc"]) <= bound + 1e-6


def test_bound_for_a_confident_model_near_0_and_1_is_0_000001() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 20_000)
    # Most scores within 1e-3 of 0 or 1, many within 1e-6, some exactly 0 or 1.
    p1 = 1 / (1 + np.exp(-(3 * rng.normal(0, 1, y.size) + 8 * (2 * y - 1))))
    p1[:500] = np.round(p1[:500])
    result, expected = scored_binary(p1, y)
    bound = result["error_bounds"]["roc_auc"]
    assert bound <= 0.000001  # measured: rounded up to 6 digits
    assert abs(result["metrics"]["roc_auc"] - expected["metrics"]["roc_auc"]) <= bound + 1e-6


def test_multiclass_bound_is_the_mean_of_the_classes_present() -> None:
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c", "d"]
    actual = rng.choice(classes[:3], size=3000).tolist()  # no "d"
    proba = rng.dirichlet([1.0, 1.0, 1.0, 1.0], size=3000)
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    probabilities = [dict(zip(classes, row, strict=True)) for row in proba.tolist()]
    tally = QualityTally.for_model("classification", classes)
    for row in zip(actual, predicted, probabilities, strict=True):
        tally.add(*row)
    result = tally.result()
    assert_matches_quality(
        result, quality("classification", classes, actual, predicted, probabilities)
    )
    assert 0 < result["error_bounds"]["roc_auc"] < 0.005


def test_state_is_json_and_keeps_only_non_empty_bins() -> None:
    tally = QualityTally.for_model("classification", [0, 1])
    for p in (0.0, 0.2, 0.2, 0.9, 1.0):
        tally.add(1, 1, {"0": 1 - p, "1": p})
    state = json.loads(json.dumps(tally.state()))
    histogram = state["scores"][0]
    assert sum(histogram["positive"].values()) == 5
    assert len(histogram["positive"]) == 4 and histogram["negative"] == {}


def test_a_state_of_another_model_does_not_merge() -> None:
    binary = QualityTally.for_model("classification", ["no", "yes"])
    binary.add("yes", "yes", {"no": 0.3, "yes": 0.7})
    before = binary.result()
    state = binary.state()
    others = [
        QualityTally.for_model("classification", ["yes", "no"]).state(),
        QualityTally.for_model("classification", ["no", "yes", "maybe"]).state(),
        QualityTally.for_model("regression", None).state(),
        {**state, "bins": "uniform/100"},
        {**state, "confusion": [[1, 0]]},
    ]
    for other in others:
        with pytest.raises(ValueError):
            binary.merge(other)
    with pytest.raises(KeyError):
        binary.merge({k: v for k, v in state.items() if k != "scores"})
    with pytest.raises(TypeError):
        binary.merge({**state, "unknown_actuals": "3"})
    with pytest.raises(ValueError):
        QualityTally.for_model("regression", None).merge(state)
    assert binary.result() == before  # a refused state changes nothing
