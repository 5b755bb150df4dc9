"""The renderer: json, table and the AWS CLI's text format, and --query before rendering."""

from __future__ import annotations

import json
from pathlib import Path

import jmespath

from sklambda.cli.output import Result, present, render


def test_text_puts_an_objects_scalars_on_one_line_and_nested_values_under_their_key() -> None:
    data = {"b": 1, "a": "x", "c": [1, 2], "d": {"e": None, "f": True}}

    assert render(data, "text") == "x\t1\nC\t1\nC\t2\nD\tNone\tTrue"


def test_text_prints_a_list_of_objects_one_line_each_over_all_their_scalar_keys() -> None:
    rows = [{"a": 1, "b": 2.5}, {"a": 3, "c": {"x": "y"}}]

    assert render(rows, "text").splitlines() == ["1\t2.5", "3\tNone", "C\ty"]


def test_text_of_lists_and_scalars() -> None:
    assert render([[1, "a"], [2, "b"]], "text") == "1\ta\n2\tb"
    assert render([1, 2, 3], "text") == "1\t2\t3"
    assert render("churn", "text") == "churn"
    assert render(None, "text") == "None"
    assert render([], "text") == ""
    assert render({"path": Path("/tmp/x")}, "text") == "/tmp/x"  # as json shows it


def test_a_table_shows_queried_values_and_lists_one_per_line() -> None:
    assert render([1, 2], "table") == "1\n2"
    assert render([["a", 10], ["bbb", None]], "table") == "a    10\nbbb  -"
    assert render(0.5, "table") == "0.5"


def test_the_table_view_is_for_tables_only_and_the_query_reads_the_data() -> None:
    result = Result({"rows": [{"v": 1}, {"v": 2}]}, table=lambda: "a table", columns=["v"])

    assert present(result, "table") == "a table"
    assert json.loads(present(result, "json")) == {"rows": [{"v": 1}, {"v": 2}]}
    assert present(result, "text") == "ROWS\t1\nROWS\t2"
    query = jmespath.compile("rows[].v")
    assert json.loads(present(result, "json", query)) == [1, 2]
    assert present(result, "table", query) == "1\n2"
    assert present(result, "text", query) == "1\t2"


def test_plain_data_renders_as_before() -> None:
    rows = [{"name": "churn", "latest": 2, "shadow": None}]

    assert present(rows, "json") == json.dumps(rows, indent=2)
    assert present(rows, "table") == "NAME   LATEST  SHADOW\nchurn  2       -"
    assert present(Result(rows, columns=["latest", "name"]), "table") == (
        "LATEST  NAME\n2       churn"
    )
