"""The EMF line `publish` writes is the document CloudWatch turns into metrics."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core._observability import NAMESPACE, emf_line

names = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
values = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(
    dimensions=st.dictionaries(names.map(lambda n: "D" + n), names, min_size=1, max_size=3),
    counts=st.dictionaries(names.map(lambda n: "C" + n), values, max_size=3),
    milliseconds=st.dictionaries(names.map(lambda n: "M" + n), values, max_size=2),
    now=st.floats(0, 4e9),
)
def test_every_metric_is_declared_with_its_unit_under_the_dimensions(
    dimensions: dict[str, str], counts: dict[str, float], milliseconds: dict[str, float], now: float
) -> None:
    line = emf_line(dimensions, counts, milliseconds, None, {"request_id": "r-1"}, now)

    if not counts and not milliseconds:
        assert line is None  # CloudWatch rejects a document without metrics
        return
    assert line is not None and "\n" not in line
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [list(dimensions)]
    declared = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert declared == {
        **dict.fromkeys(counts, "Count"),
        **dict.fromkeys(milliseconds, "Milliseconds"),
    }
    for name, value in {**counts, **milliseconds}.items():
        assert document[name] == [float(value)]
    for name, label in dimensions.items():
        assert document[name] == label
    assert document["request_id"] == "r-1"
    assert document["_aws"]["Timestamp"] == int(now * 1000)
