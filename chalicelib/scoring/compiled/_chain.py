"""Compiling transformers in sequence: chains, Pipelines and ColumnTransformer, the fusion of
adjacent steps, the table from a transformer's class to its compiler, and the table from a
step's plan kind to the class that rebuilds it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chalicelib.scoring.compiled._base import (
    Row,
    Rows,
    _getter,
    _is,
    _is_identity,
    _selection,
    _Step,
    _Unsupported,
)
from chalicelib.scoring.compiled._categorical import (
    _compile_one_hot_encoder,
    _compile_ordinal_encoder,
    _OneHot,
    _Ordinal,
)
from chalicelib.scoring.compiled._function import _compile_function_transformer, _Function
from chalicelib.scoring.compiled._numeric import (
    _CenterScale,
    _compile_max_abs_scaler,
    _compile_min_max_scaler,
    _compile_robust_scaler,
    _compile_simple_imputer,
    _compile_standard_scaler,
    _Impute,
    _MulAdd,
)
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable

# A compiler reads one fitted transformer and the width of its input; [] is the identity.
_Compiler = Callable[[Any, int], list[_Step]]


def _compile_chain(transformers: Sequence[Any], n_in: int) -> tuple[list[_Step], int]:
    """Compile transformers applied one after the other; return the steps and output width."""
    steps: list[_Step] = []
    width = n_in
    for transformer in transformers:
        for step in _compile_step(transformer, width):
            fused = _fuse(steps[-1], step) if steps else None
            if fused is None:
                steps.append(step)
            else:
                steps[-1] = fused
            width = step.width
    return steps, width


def _fuse(first: _Step, second: _Step) -> _Step | None:
    """One step doing both, with the same arithmetic in the same order; None if they cannot."""
    if isinstance(first, _Impute) and isinstance(second, _CenterScale):
        return second.after_imputer(first)
    return None


def _compile_step(transformer: Any, n_in: int) -> list[_Step]:
    """Compile one fitted transformer reading `n_in` columns; [] is the identity."""
    if _is_identity(transformer):
        return []
    entry = _COMPILERS.get(type(transformer).__name__)
    if entry is None or not _is(transformer, entry[0], type(transformer).__name__):
        raise _Unsupported(f"no compiled form for {type(transformer).__name__}")
    if getattr(transformer, "n_features_in_", n_in) != n_in:
        raise _Unsupported(f"{type(transformer).__name__} was fitted on another width")
    return entry[1](transformer, n_in)


def _compile_pipeline(pipeline: Any, n_in: int) -> list[_Step]:
    steps, _ = _compile_chain([est for _, est in pipeline.steps if not _is_identity(est)], n_in)
    return steps


# A ColumnTransformer branch: the columns it reads (None: all, in order) and its steps.
_Branch = tuple[list[int] | None, tuple[_Step, ...]]


class _Columns:
    """ColumnTransformer: each branch reads its columns; outputs are concatenated in order."""

    __slots__ = ("_branches", "_selections", "width")

    def __init__(self, branches: list[_Branch], width: int) -> None:
        self._selections = [selection for selection, _ in branches]
        # What __call__ runs: the selections as fast getters.
        self._branches: list[tuple[Callable[[Row], Row] | None, tuple[_Step, ...]]] = [
            (_getter(selection), steps) for selection, steps in branches
        ]
        self.width = width

    def __call__(self, rows: Rows) -> Rows:
        parts = []
        for getter, steps in self._branches:
            sub: Rows = rows if getter is None else list(map(getter, rows))
            for step in steps:
                sub = step(sub)
            parts.append(sub)
        if len(parts) == 1:
            return parts[0]
        out: Rows = []
        for pieces in zip(*parts, strict=True):
            row: list[Any] = []
            for piece in pieces:
                row += piece
            out.append(row)
        return out

    def trace(self, origins: list[int]) -> list[int]:
        made: list[int] = []
        for selection, (_, steps) in zip(self._selections, self._branches, strict=True):
            sub = list(origins) if selection is None else [origins[i] for i in selection]
            for step in steps:
                sub = step.trace(sub)
            made += sub
        return made

    def to_spec(self, writer: PlanWriter) -> Spec:
        branches = [
            {
                "columns": None if selection is None else [int(i) for i in selection],
                "steps": [step.to_spec(writer) for step in steps],
            }
            for selection, (_, steps) in zip(self._selections, self._branches, strict=True)
        ]
        return {"kind": "columns", "width": self.width, "branches": branches}

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _Columns:
        branches: list[_Branch] = [
            (
                None if branch["columns"] is None else [int(i) for i in branch["columns"]],
                tuple(_step_from_spec(step, reader) for step in branch["steps"]),
            )
            for branch in spec["branches"]
        ]
        return cls(branches, int(spec["width"]))


def _compile_column_transformer(ct: Any, n_in: int) -> list[_Step]:
    if ct.transformer_weights:
        raise _Unsupported("ColumnTransformer with transformer_weights")
    branches: list[_Branch] = []
    width = 0
    for name, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        indices = list(ct._transformer_to_input_indices[name])
        if not indices:
            continue  # sklearn skips empty selections too
        if np.isscalar(columns):
            raise _Unsupported("a scalar column selection hands transformers a 1-D column")
        steps = _compile_step(transformer, len(indices))
        branches.append((_selection(indices, n_in), tuple(steps)))
        width += steps[-1].width if steps else len(indices)
    return [_Columns(branches, width)]


# Class name -> (module that defines it in scikit-learn, compiler). Supporting one more
# transformer is one entry here; the class must also be exactly that module's, not a subclass.
_COMPILERS: dict[str, tuple[str, _Compiler]] = {
    "Pipeline": ("sklearn.pipeline", _compile_pipeline),
    "ColumnTransformer": ("sklearn.compose", _compile_column_transformer),
    "StandardScaler": ("sklearn.preprocessing", _compile_standard_scaler),
    "RobustScaler": ("sklearn.preprocessing", _compile_robust_scaler),
    "MaxAbsScaler": ("sklearn.preprocessing", _compile_max_abs_scaler),
    "MinMaxScaler": ("sklearn.preprocessing", _compile_min_max_scaler),
    "OneHotEncoder": ("sklearn.preprocessing", _compile_one_hot_encoder),
    "OrdinalEncoder": ("sklearn.preprocessing", _compile_ordinal_encoder),
    "FunctionTransformer": ("sklearn.preprocessing", _compile_function_transformer),
    "SimpleImputer": ("sklearn.impute", _compile_simple_imputer),
}


# Plan kind -> the step class that rebuilds it from its spec and arrays.
_LOADERS: dict[str, Callable[[Spec, PlanReader], _Step]] = {
    "center_scale": _CenterScale.from_spec,
    "mul_add": _MulAdd.from_spec,
    "impute": _Impute.from_spec,
    "one_hot": _OneHot.from_spec,
    "ordinal": _Ordinal.from_spec,
    "function": _Function.from_spec,
    "columns": _Columns.from_spec,
}


def _step_from_spec(spec: Spec, reader: PlanReader) -> _Step:
    """The step a `to_spec` described, rebuilt from its data."""
    loader = _LOADERS.get(str(spec.get("kind")))
    if loader is None:
        raise Unplannable(f"preprocessing step kind {spec.get('kind')!r} is not known here")
    return loader(spec, reader)
