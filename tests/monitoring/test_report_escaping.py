"""Untrusted names reach the report page as text only, whatever their characters.

A report's model, feature, category, alias and metric names and rollout reasons are renamed to
random unicode (with markup, quotes, `&` and `</svg>` mixed in) and the page is compared with
the same report under plain placeholder names: the markup must be the same, tag for tag and
attribute for attribute, and every name must read back from the parsed page (a metric's as
the name the page gives it).
"""

from __future__ import annotations

import copy
from functools import cache
from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.monitoring.report import render_report_html
from chalicelib.monitoring.report._format import metric_name
from tests.monitoring.test_report_html import HOSTILE, sample_report

# The report's own names that get replaced (exact string values and dict keys).
ORIGINALS = [
    "churn",  # model
    "score",  # prediction
    "age",
    "monthly_charges",
    "plan",
    "has_partner",
    "champion",  # aliases, roles
    "canary",
    "basic",  # bin labels
    "family sharing (legacy)",
    "Mars",  # new categories
    HOSTILE,
    "REASON_ROLLBACK",  # rollout decisions
    "REASON_GATE",
    "rolled back",
    "e3b0c44298fc1c149afbf4c8996fb924",  # event id: in the JSON only, never on the page
    "accuracy",  # metrics (shown through metric_name)
    "log_loss",
]
METRICS = ORIGINALS[-2:]
METRIC_KEYS = {"accuracy", "roc_auc", "log_loss", "precision", "recall", "mae", "rmse"}
PLACEHOLDERS = [f"name{i}" for i in range(len(ORIGINALS))]
NASTY = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</svg></section><h1>x",
    "</style><style>*{display:none}",
    "&amp;&lt;&#60;&",
    "<!-- x --><![CDATA[ y ]]>",
    "{{ page }}{% raw %}",
    '"',
    "'",
    "<",
    ">",
]
NAMES = st.one_of(
    st.sampled_from(NASTY),
    st.text(min_size=1, max_size=40),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), st.sampled_from(NASTY), st.text()),
).filter(lambda name: name not in METRIC_KEYS)  # a metric renamed onto another would merge
ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "main", "header", "footer", "section"),
    *("div", "p", "span", "b", "code", "h1", "h2", "h3", "h4", "dl", "dt", "dd", "ul", "li"),
    *("table", "thead", "tbody", "tr", "th", "td"),
    *("svg", "rect", "text", "line", "path", "circle"),
}
ALLOWED_ATTRIBUTES = {
    *("lang", "charset", "name", "content", "class", "style", "data-feature"),
    *("viewbox", "width", "height", "role", "aria-label", "x", "y", "rx", "fill"),
    *("text-anchor", "x1", "y1", "x2", "y2", "stroke", "stroke-width", "d", "cx", "cy", "r"),
}


class _Page(HTMLParser):
    """The page's markup (tags and attribute names in order), text and attribute values."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.markup: list[tuple[str, ...]] = []
        self.text: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(("<", tag, *(name for name, _ in attrs)))
        self.attributes.extend((name, value or "") for name, value in attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.markup.append(("/>", tag))

    def handle_endtag(self, tag: str) -> None:
        self.markup.append(("</", tag))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.markup.append(("<!--", data))


def named(names: list[str]) -> dict[str, Any]:
    """The sample report, with rollout decisions, its names replaced by `names`."""
    report = sample_report(runs=4)
    report["versions"][0]["serving"] = {"requests": 100, "errors": 1, "error_rate": 0.01}
    report["decisions"] = [
        {
            "role": "canary",
            "version": 4,
            "action": "rollback",
            "outcome": "rolled back",
            "reasons": ["REASON_ROLLBACK"],
            "gate": {"reasons": ["REASON_GATE"]},
        }
    ]
    return _renamed(report, dict(zip(ORIGINALS, names, strict=True)))


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {_renamed(k, names): _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return copy.copy(value)


@cache
def placeholder_page() -> tuple[str, _Page]:
    page = render_report_html(named(PLACEHOLDERS))
    return page, _Page(page)


def test_the_placeholder_page_uses_only_allowed_markup() -> None:
    _, parsed = placeholder_page()
    assert {entry[1] for entry in parsed.markup if entry[0] == "<"} <= ALLOWED_TAGS
    assert {name for entry in parsed.markup if entry[0] == "<" for name in entry[2:]} <= (
        ALLOWED_ATTRIBUTES
    )
    assert not [entry for entry in parsed.markup if entry[0] == "<!--"]


@settings(max_examples=60, deadline=None)
@given(st.lists(NAMES, min_size=len(ORIGINALS), max_size=len(ORIGINALS), unique=True))
def test_random_names_are_text_never_markup(names: list[str]) -> None:
    page = render_report_html(named(names))
    parsed = _Page(page)
    safe_page, safe = placeholder_page()

    # The same tags with the same attributes, in the same order, as with plain names.
    assert parsed.markup == safe.markup
    # Not one raw <, > or quote more than with plain names: the names' own are all escaped.
    for char in "<>\"'":
        assert page.count(char) == safe_page.count(char), char
    # Each name reads back whole from the text or the attributes.
    text = "".join(parsed.text)
    values = {value for _, value in parsed.attributes}
    event = ORIGINALS.index("e3b0c44298fc1c149afbf4c8996fb924")
    for i, name in enumerate(names[: -len(METRICS)]):
        assert i == event or name in text or name in values, name
    for name in names[-len(METRICS) :]:
        assert metric_name(name) in text, name
    model, prediction, features = names[0], names[1], names[2:6]
    assert f"{model} · monitor report" in text
    charted = [value for attribute, value in parsed.attributes if attribute == "data-feature"]
    assert charted == [prediction, *features, *features]  # the champion's, then the canary's
