"""Rendering command results like the AWS CLI's --output: pretty JSON, a plain-text table, or
tab-separated text; with --query, a JMESPath expression applied to the result first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any


@dataclass(frozen=True)
class Result:
    """A command's result, for commands whose table is not simply their data.

    `data` is what json and text print and what --query reads. `table` builds what --output
    table shows instead (called only for a table), and `columns` orders the table's columns.
    """

    data: Any
    table: Callable[[], Any] | None = None
    columns: Sequence[str] | None = None


def present(result: Any, output: str, query: Any = None) -> str:
    """The text to print for a command's result (a Result, or plain data).

    With a `query` (a compiled JMESPath expression) the result's data, as json shows it, is
    searched first, and the answer is rendered as it is, whatever the output.
    """
    if not isinstance(result, Result):
        result = Result(result)
    if query is not None:
        return render(query.search(jsonable(result.data)), output)
    if output == "table" and result.table is not None:
        return render(result.table(), output, result.columns)
    return render(result.data, output, result.columns)


def render(data: Any, output: str, columns: Sequence[str] | None = None) -> str:
    """`data` as pretty JSON, as tab-separated text, or as a table (rows for lists, key/value
    pairs for objects).
    """
    if output == "json":
        return json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if output == "text":
        lines: list[str] = []
        _text(jsonable(data), lines)
        return "\n".join(lines)
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping):
        return _key_values(data)
    if isinstance(data, Sequence):
        return _rows(list(data), columns)
    return _cell(data)


def jsonable(data: Any) -> Any:
    """`data` as json prints it: plain dicts, lists, strings, numbers, booleans and None."""
    return json.loads(json.dumps(data, default=str))


# -- table -----------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping | list):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _rows(rows: list[Any], columns: Sequence[str] | None) -> str:
    if not rows:
        return "(none)"
    if not all(isinstance(row, Mapping) for row in rows):
        # A queried list of values or of lists: one line per item, no header.
        return _grid(
            [[_cell(v) for v in row] if isinstance(row, list) else [_cell(row)] for row in rows]
        )
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    table = [[c.upper() for c in columns]]
    table += [[_cell(row.get(c)) for c in columns] for row in rows]
    return _grid(table)


def _grid(table: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip_longest(*table, fillvalue="")]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in table
    )


def _key_values(data: Mapping[str, Any]) -> str:
    width = max((len(str(k)) for k in data), default=0)
    return "\n".join(f"{str(k).ljust(width)}  {_cell(v)}" for k, v in data.items())


# -- text: the AWS CLI's format, for scripts ---------------------------------------------------
# An object is one line of its scalar values, keys in alphabetical order; each nested object
# or list follows on its own lines, led by its key in capitals. A list of objects is one line
# per object, over the scalar keys of all of them (a missing one prints None). A list of
# scalars is one line. Use --query to pick and order the columns.
def _text(item: Any, lines: list[str], label: str | None = None) -> None:
    if isinstance(item, dict):
        _text_object(item, lines, label, None)
    elif isinstance(item, list):
        _text_list(item, lines, label)
    else:
        lines.append(str(item))


def _text_list(items: list[Any], lines: list[str], label: str | None) -> None:
    if not items:
        return
    if any(isinstance(item, dict) for item in items):
        keys = sorted(
            {k for item in items if isinstance(item, dict) for k, v in item.items() if _scalar(v)}
        )
        for item in items:
            if isinstance(item, dict):
                _text_object(item, lines, label, keys)
            else:
                _text(item, lines, label)
        return
    scalars = [item for item in items if _scalar(item)]
    if scalars:
        if label is None:
            lines.append("\t".join(str(item) for item in scalars))
        else:
            lines.extend(f"{label.upper()}\t{item}" for item in scalars)
    for nested in (item for item in items if not _scalar(item)):
        _text(nested, lines, label)


def _text_object(
    item: dict[str, Any], lines: list[str], label: str | None, keys: list[str] | None
) -> None:
    if keys is None:
        keys = sorted(k for k, v in item.items() if _scalar(v))
    values = [str(item.get(key)) for key in keys]
    if values:
        lines.append("\t".join([label.upper(), *values] if label is not None else values))
    for key in sorted(set(item) - set(keys)):
        _text(item[key], lines, key)


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)
