"""How the report page spells numbers, shares, times and names; reading untrusted values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.monitoring.report._format import (
    MISSING,
    NO_LABELS,
    NO_REQUESTS,
    NONE_YET,
    NOT_MEASURED,
    fmt_axis_time,
    fmt_compact,
    fmt_count,
    fmt_limit,
    fmt_metric,
    fmt_ms,
    fmt_share,
    fmt_text,
    fmt_time,
    limit_text,
    metric_name,
    missing_text,
    present,
    without_ids,
)
from chalicelib.monitoring.report._values import as_dict, as_list, dicts, num, text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1.0), (0.5, 0.5), (None, None), (True, None), ("1", None), (float("nan"), None)],
)
def test_num_keeps_finite_numbers_only(value: Any, expected: float | None) -> None:
    assert num(value) == expected


def test_num_refuses_infinities_and_huge_ints() -> None:
    assert num(float("inf")) is None and num(10**400) is None


def test_containers_of_the_wrong_type_read_as_empty() -> None:
    assert as_dict([1]) == {} and as_list({"a": 1}) == [] and text(None) == ""
    assert dicts([{"a": 1}, "x", None, {}]) == [{"a": 1}, {}]


@pytest.mark.parametrize(
    ("value", "expected"), [(6200, "6,200"), (12.5, "12.5"), (0, "0"), (None, MISSING)]
)
def test_counts(value: float | None, expected: str) -> None:
    assert fmt_count(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.3104, "0.310"), (12.44, "12.4"), (1234.4, "1,234"), (-0.5, "-0.500"), ("x", NOT_MEASURED)],
)
def test_metrics_get_decimals_by_size(value: Any, expected: str) -> None:
    assert fmt_metric(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.125, "12.5%"), (0.0004, "<0.1%"), (0.0, "0.0%"), (1.0, "100.0%"), (None, NOT_MEASURED)],
)
def test_shares_are_percentages(value: float | None, expected: str) -> None:
    assert fmt_share(value) == expected


def test_limits_latencies_and_axis_counts() -> None:
    assert fmt_limit(0.2) == "0.2" and fmt_limit(None) == "off" and fmt_limit("x") == "off"
    assert fmt_ms(4.2) == "4.2 ms" and fmt_ms(None) == NO_REQUESTS
    assert [fmt_compact(v) for v in (12, 6200, 1.5e6, 2e9)] == ["12", "6.2k", "1.5M", "2B"]


def test_times_read_in_utc_and_other_text_stays_as_is() -> None:
    assert fmt_time("2026-11-23T10:00:00Z") == "23 Nov 2026, 10:00 UTC"
    assert fmt_time("2026-11-03T09:05:00Z") == "3 Nov 2026, 09:05 UTC"
    assert fmt_time("yesterday") == "yesterday" and fmt_time(None) == MISSING
    assert fmt_time(1234) == "1234"
    assert fmt_axis_time("2026-11-03T09:05:00Z") == "3 Nov 09:05"
    assert fmt_axis_time(None) == ""


def test_metric_names_and_limits_read_well() -> None:
    assert metric_name("roc_auc") == "ROC AUC" and metric_name("r2") == "R²"
    assert metric_name("my_metric") == "My metric"
    assert limit_text("psi", 0.2) == "PSI ≥ 0.2" and limit_text("js", None) == "JS off"


def test_missing_shares_this_window_then_training() -> None:
    feature = {"missing_rate": 0.01, "reference_missing_rate": None}
    assert missing_text(feature) == f"1.0% ({NOT_MEASURED})"


# --- absent values: one helper, never a blank --------------------------------------------

ABSENT_WORDS = [MISSING, NONE_YET, NOT_MEASURED, NO_LABELS, NO_REQUESTS]
FORMATTERS: list[Callable[..., str]] = [fmt_count, fmt_metric, fmt_share, fmt_ms]
# Anything a JSON report may hold where a number is expected.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


def _absent(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    try:
        return not math.isfinite(float(value))
    except OverflowError:  # an int beyond any float
        return True


@given(
    value=JSON_VALUES,
    absent=st.sampled_from(ABSENT_WORDS),
    formatter=st.sampled_from(FORMATTERS),
)
def test_every_value_reads_as_a_number_or_the_word_asked_for(
    value: Any, absent: str, formatter: Callable[..., str]
) -> None:
    shown = formatter(value, absent)
    assert shown.strip(), "a formatter never leaves a blank"
    if _absent(value):
        assert shown == absent
    else:
        assert shown != absent and any(c.isdigit() for c in shown)


@given(value=JSON_VALUES, absent=st.sampled_from(ABSENT_WORDS))
def test_present_is_the_one_rule_for_absence(value: Any, absent: str) -> None:
    shown = present(value, lambda v: "number", absent)
    assert shown == (absent if _absent(value) else "number")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_finite_numbers_are_never_read_as_absent(value: float) -> None:
    for formatter in FORMATTERS:
        assert formatter(value) not in ABSENT_WORDS


@given(st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=10)))
def test_text_is_never_blank(value: str | None) -> None:
    shown = fmt_text(value)
    assert shown == (value or MISSING) and shown != ""


@given(st.uuids())
def test_ids_are_dropped_from_free_text(uuid: Any) -> None:
    said = without_ids(f'precondition failed for claim {uuid} (etag "{uuid.hex}")')
    assert str(uuid) not in said and uuid.hex not in said
    assert said.startswith("precondition failed for claim an id")


def test_ordinary_words_and_numbers_survive_the_id_filter() -> None:
    said = "error rate 12.0% (36 of 300 requests) over the limit of 1.0%; roc_auc 0.7000"
    assert without_ids(said) == said
    # Long runs of digits (a count, a feature named 0000000000000000) and long words are no ids.
    for kept in ("12345678901234567 rows", "feature 0000000000000000", "decadeaccededfaded"):
        assert without_ids(kept) == kept
