"""Categorical steps: OneHotEncoder and OrdinalEncoder as per-column lookup tables, with their
compilers, the table builder they share and the tables' plan data (categories in the JSON,
the outputs they map to in arrays)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate, chain
from typing import Any

import numpy as np

from chalicelib.scoring.compiled._base import (
    Rows,
    _is_nan,
    _Step,
    _Unsupported,
    _value_from_json,
    _value_to_json,
)
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec

_ZEROS = -1  # one-hot target meaning "no column set"

# A category lookup per input column: value -> output, output for missing, output for unknown.
# An output of None for missing/unknown means "raise like sklearn's handle_unknown='error'".
_Lookup = tuple[dict[Any, Any], Any, Any, int]


def _lookups_to_plan(
    lookups: list[_Lookup], writer: PlanWriter, dtype: type, step: str
) -> list[Spec]:
    """Each column's table: its categories (text and all) in the JSON, in the table's order,
    and the outputs they map to as one array of `dtype`."""
    specs = []
    for table, missing, unknown, column in lookups:
        where = f"{step} column {column}"
        specs.append(
            {
                "categories": [_value_to_json(category, where) for category in table],
                "outputs": writer.add(np.asarray(list(table.values()), dtype=dtype), "outputs"),
                "missing": _value_to_json(missing, where),
                "unknown": _value_to_json(unknown, where),
                "column": column,
            }
        )
    return specs


def _lookups_from_plan(specs: list[Spec], reader: PlanReader) -> list[_Lookup]:
    lookups: list[_Lookup] = []
    for spec in specs:
        categories = [_value_from_json(category) for category in spec["categories"]]
        outputs = reader[spec["outputs"]].tolist()
        table = dict(zip(categories, outputs, strict=True))
        missing = _value_from_json(spec["missing"])
        lookups.append((table, missing, _value_from_json(spec["unknown"]), int(spec["column"])))
    return lookups


def _unknown_category(value: Any, column: int) -> ValueError:
    return ValueError(f"Found unknown categories [{value!r}] in column {column} during transform")


class _OneHot:
    """OneHotEncoder: set one precomputed output column per input column (or none)."""

    __slots__ = ("_lookups", "width")

    def __init__(self, lookups: list[_Lookup], width: int) -> None:
        self._lookups = lookups
        self.width = width

    def __call__(self, rows: Rows) -> Rows:
        width = self.width
        out: Rows = []
        for row in rows:
            hot = [0.0] * width
            for x, (table, missing, unknown, column) in zip(row, self._lookups, strict=True):
                j = table.get(x)
                if j is None:
                    j = missing if x != x else unknown
                    if j is None:
                        raise _unknown_category(x, column)
                if j >= 0:
                    hot[j] = 1.0
            out.append(hot)
        return out

    def trace(self, origins: list[int]) -> list[int]:
        made = [-1] * self.width
        for k, (table, missing, unknown, _) in enumerate(self._lookups):
            for j in (*table.values(), missing, unknown):
                if j is not None and j >= 0:
                    made[j] = origins[k]
        return made

    def to_spec(self, writer: PlanWriter) -> Spec:
        lookups = _lookups_to_plan(self._lookups, writer, np.int64, "OneHotEncoder")
        return {"kind": "one_hot", "width": self.width, "lookups": lookups}

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _OneHot:
        return cls(_lookups_from_plan(spec["lookups"], reader), int(spec["width"]))


class _Ordinal:
    """OrdinalEncoder: replace each value by its precomputed code."""

    __slots__ = ("_lookups", "width")

    def __init__(self, lookups: list[_Lookup]) -> None:
        self._lookups = lookups
        self.width = len(lookups)

    def __call__(self, rows: Rows) -> Rows:
        out: Rows = []
        for row in rows:
            codes = []
            for x, (table, missing, unknown, column) in zip(row, self._lookups, strict=True):
                code = table.get(x)
                if code is None:
                    code = missing if x != x else unknown
                    if code is None:
                        raise _unknown_category(x, column)
                codes.append(code)
            out.append(codes)
        return out

    def trace(self, origins: list[int]) -> list[int]:
        return list(origins)  # column for column

    def to_spec(self, writer: PlanWriter) -> Spec:
        return {
            "kind": "ordinal",
            "lookups": _lookups_to_plan(self._lookups, writer, np.float64, "OrdinalEncoder"),
        }

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _Ordinal:
        return cls(_lookups_from_plan(spec["lookups"], reader))


def _compile_one_hot_encoder(encoder: Any, n_in: int) -> list[_Step]:
    if encoder.handle_unknown not in ("error", "ignore", "infrequent_if_exist", "warn"):
        raise _Unsupported(f"OneHotEncoder(handle_unknown={encoder.handle_unknown!r})")
    n_outs = list(encoder._n_features_outs)
    offsets = [0, *accumulate(n_outs)]
    drops = encoder._drop_idx_after_grouping
    infrequent = encoder._infrequent_enabled
    lookups: list[_Lookup] = []
    for i, categories in enumerate(encoder.categories_):
        mapping = encoder._default_to_infrequent_mappings[i] if infrequent else None
        drop = None if drops is None else drops[i]

        def output(
            k: int, mapping: Any = mapping, drop: Any = drop, offset: int = offsets[i]
        ) -> int:
            """Output column of category index k: infrequent grouping, then drop."""
            g = int(mapping[k]) if mapping is not None else k
            if drop is not None and g >= drop:
                if g == drop:
                    return _ZEROS
                g -= 1
            return offset + g

        table, missing = _category_table(categories.tolist(), output)
        if encoder.handle_unknown == "error":
            unknown = None
        elif encoder.handle_unknown == "ignore" or not infrequent:
            unknown = _ZEROS
        else:
            rare = encoder._infrequent_indices[i]
            unknown = _ZEROS if rare is None else output(int(rare[0]))
        lookups.append((table, unknown if missing is None else missing, unknown, i))
        targets = {j for j in chain(table.values(), [missing, unknown]) if j is not None}
        if not targets <= {_ZEROS, *range(offsets[i], offsets[i + 1])}:
            raise _Unsupported("OneHotEncoder output layout not understood")
    return [_OneHot(lookups, offsets[-1])]


def _compile_ordinal_encoder(encoder: Any, n_in: int) -> list[_Step]:
    if encoder.handle_unknown not in ("error", "use_encoded_value"):
        raise _Unsupported(f"OrdinalEncoder(handle_unknown={encoder.handle_unknown!r})")
    unknown = None if encoder.handle_unknown == "error" else float(encoder.unknown_value)
    infrequent = encoder._infrequent_enabled
    lookups: list[_Lookup] = []
    for i, categories in enumerate(encoder.categories_):
        mapping = encoder._default_to_infrequent_mappings[i] if infrequent else None

        def code(k: int, mapping: Any = mapping) -> float:
            return float(mapping[k]) if mapping is not None else float(k)

        values = categories.tolist()
        if i in encoder._missing_indices:
            table, _ = _category_table(values[:-1], code)
            missing = float(encoder.encoded_missing_value)
        else:
            table, missing = _category_table(values, code)
        lookups.append((table, unknown if missing is None else missing, unknown, i))
    return [_Ordinal(lookups)]


def _category_table(
    categories: list[Any], output: Callable[[int], Any]
) -> tuple[dict[Any, Any], Any]:
    """Map each category to its output; the missing category (NaN, else None) is returned apart."""
    table: dict[Any, Any] = {}
    missing_nan = missing_none = None
    for k, category in enumerate(categories):
        if category is None:
            missing_none = output(k)
        elif _is_nan(category):
            missing_nan = output(k)
        else:
            table[category] = output(k)
    # Records carry None and NaN alike, so either stands for the missing category.
    return table, missing_nan if missing_nan is not None else missing_none
