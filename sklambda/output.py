"""Rendering command results as JSON or as a plain-text table, like the AWS CLI's --output."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def render(data: Any, output: str, columns: Sequence[str] | None = None) -> str:
    """`data` as pretty JSON, or as a table (rows for lists, key/value pairs for objects)."""
    if output == "json":
        return json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if isinstance(data, Mapping):
        return _key_values(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return _rows(list(data), columns)
    return str(data)


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
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    table = [[c.upper() for c in columns]]
    table += [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def _key_values(data: Mapping[str, Any]) -> str:
    width = max((len(str(k)) for k in data), default=0)
    return "\n".join(f"{str(k).ljust(width)}  {_cell(v)}" for k, v in data.items())
