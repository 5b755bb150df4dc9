"""Numeric steps: center/scale (StandardScaler, RobustScaler, MaxAbsScaler), multiply/add
(MinMaxScaler), and SimpleImputer, each with its compiler and its plan data."""

from __future__ import annotations

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


def _floats_to_plan(writer: PlanWriter, values: list[float] | None, name: str) -> str | None:
    # float64 holds each Python float exactly, and tolist() gives the same floats back.
    return None if values is None else writer.add(np.asarray(values, dtype=np.float64), name)


def _floats_from_plan(reader: PlanReader, key: str | None) -> list[float] | None:
    return None if key is None else reader[key].tolist()


def _clip_to_plan(writer: PlanWriter, clip: tuple[float, float] | None) -> str | None:
    return _floats_to_plan(writer, None if clip is None else list(clip), "clip")


def _clip_from_plan(reader: PlanReader, key: str | None) -> tuple[float, float] | None:
    bounds = _floats_from_plan(reader, key)
    return None if bounds is None else (bounds[0], bounds[1])


class _CenterScale:
    """(x - center) / scale per column, optionally clipped, in the order sklearn applies them.

    `fills` folds a preceding numeric SimpleImputer in: one pass over the row instead of two.
    """

    __slots__ = ("_centers", "_clip", "_fills", "_scales", "width")

    def __init__(
        self,
        centers: list[float],
        scales: list[float],
        clip: tuple[float, float] | None,
        fills: list[float] | None = None,
    ) -> None:
        if len(centers) != len(scales) or (fills is not None and len(fills) != len(scales)):
            raise _Unsupported("scaler parameters of different lengths")
        self._centers = centers
        self._scales = scales
        self._clip = clip
        self._fills = fills
        self.width = len(centers)

    def after_imputer(self, imputer: _Impute) -> _CenterScale | None:
        """This scaler with `imputer` folded in, or None when the two cannot merge."""
        fills = imputer.plain_numeric_fills()
        if fills is None or self._fills is not None:
            return None
        return _CenterScale(self._centers, self._scales, self._clip, fills)

    def __call__(self, rows: Rows) -> Rows:
        centers, scales, fills = self._centers, self._scales, self._fills
        # Subtracting 0.0 and dividing by 1.0 are exact, so absent options cost no branch.
        out: Rows
        if fills is None:
            out = [
                [(float(x) - c) / s for x, c, s in zip(row, centers, scales, strict=True)]
                for row in rows
            ]
        else:
            out = [
                [
                    ((m if (f := float(x)) != f else f) - c) / s
                    for x, m, c, s in zip(row, fills, centers, scales, strict=True)
                ]
                for row in rows
            ]
        if self._clip is None:
            return out
        low, high = self._clip
        return [[min(max(v, low), high) for v in row] for row in out]  # NaN stays NaN

    def trace(self, origins: list[int]) -> list[int]:
        return list(origins)  # column for column

    def to_spec(self, writer: PlanWriter) -> Spec:
        return {
            "kind": "center_scale",
            "centers": _floats_to_plan(writer, self._centers, "centers"),
            "scales": _floats_to_plan(writer, self._scales, "scales"),
            "clip": _clip_to_plan(writer, self._clip),
            "fills": _floats_to_plan(writer, self._fills, "fills"),
        }

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _CenterScale:
        return cls(
            reader[spec["centers"]].tolist(),
            reader[spec["scales"]].tolist(),
            _clip_from_plan(reader, spec["clip"]),
            _floats_from_plan(reader, spec["fills"]),
        )


class _MulAdd:
    """MinMaxScaler: x * scale + min per column, optionally clipped to feature_range."""

    __slots__ = ("_clip", "_params", "width")

    def __init__(
        self, scales: list[float], offsets: list[float], clip: tuple[float, float] | None
    ) -> None:
        self._params = list(zip(scales, offsets, strict=True))
        self._clip = clip
        self.width = len(self._params)

    def __call__(self, rows: Rows) -> Rows:
        params = self._params
        out: Rows = [
            [float(x) * s + m for x, (s, m) in zip(row, params, strict=True)] for row in rows
        ]
        if self._clip is None:
            return out
        low, high = self._clip
        return [[min(max(v, low), high) for v in row] for row in out]

    def trace(self, origins: list[int]) -> list[int]:
        return list(origins)  # column for column

    def to_spec(self, writer: PlanWriter) -> Spec:
        scales, offsets = zip(*self._params, strict=True) if self._params else ((), ())
        return {
            "kind": "mul_add",
            "scales": _floats_to_plan(writer, list(scales), "scales"),
            "offsets": _floats_to_plan(writer, list(offsets), "offsets"),
            "clip": _clip_to_plan(writer, self._clip),
        }

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _MulAdd:
        return cls(
            reader[spec["scales"]].tolist(),
            reader[spec["offsets"]].tolist(),
            _clip_from_plan(reader, spec["clip"]),
        )


def _compile_standard_scaler(scaler: Any, n_in: int) -> list[_Step]:
    centers = scaler.mean_.tolist() if scaler.with_mean else [0.0] * n_in
    scales = scaler.scale_.tolist() if scaler.with_std else [1.0] * n_in
    return [_CenterScale(centers, scales, None)]


def _compile_robust_scaler(scaler: Any, n_in: int) -> list[_Step]:
    centers = scaler.center_.tolist() if scaler.with_centering else [0.0] * n_in
    scales = scaler.scale_.tolist() if scaler.with_scaling else [1.0] * n_in
    return [_CenterScale(centers, scales, None)]


def _compile_max_abs_scaler(scaler: Any, n_in: int) -> list[_Step]:
    clip = (-1.0, 1.0) if getattr(scaler, "clip", False) else None
    return [_CenterScale([0.0] * n_in, scaler.scale_.tolist(), clip)]


def _compile_min_max_scaler(scaler: Any, n_in: int) -> list[_Step]:
    low, high = scaler.feature_range
    clip = (float(low), float(high)) if scaler.clip else None
    return [_MulAdd(scaler.scale_.tolist(), scaler.min_.tolist(), clip)]


class _Impute:
    """SimpleImputer: fill NaN with per-column statistics, then append missing indicators."""

    __slots__ = ("_fills", "_indicator", "_n_in", "_numeric", "width")

    def __init__(
        self, fills: list[tuple[int, Any]], indicator: list[int], numeric: bool, n_in: int
    ) -> None:
        self._fills = fills  # (input column, fill value) for each column kept
        self._indicator = indicator
        self._numeric = numeric
        self._n_in = n_in
        self.width = len(fills) + len(indicator)

    def plain_numeric_fills(self) -> list[float] | None:
        """The fill values when this only fills NaN in numeric columns, all kept, in order."""
        if not self._numeric or self._indicator:
            return None
        if [i for i, _ in self._fills] != list(range(self._n_in)):
            return None
        return [s for _, s in self._fills]

    def __call__(self, rows: Rows) -> Rows:
        fills = self._fills
        out: Rows
        if self._numeric:
            out = [[s if (f := float(row[i])) != f else f for i, s in fills] for row in rows]
        else:
            out = [[s if (x := row[i]) != x else x for i, s in fills] for row in rows]
        if not self._indicator:
            return out
        ind = self._indicator
        return [
            [*imputed, *[1.0 if row[j] != row[j] else 0.0 for j in ind]]
            for imputed, row in zip(out, rows, strict=True)
        ]

    def trace(self, origins: list[int]) -> list[int]:
        kept = [origins[i] for i, _ in self._fills]
        return kept + [origins[i] for i in self._indicator]  # an indicator: its column's

    def to_spec(self, writer: PlanWriter) -> Spec:
        columns = [i for i, _ in self._fills]
        values = [s for _, s in self._fills]
        return {
            "kind": "impute",
            "n_in": self._n_in,
            "numeric": self._numeric,
            "columns": writer.add(np.asarray(columns, dtype=np.int64), "columns"),
            # Numeric fills are floats (an array); others are text or mixed values (the JSON).
            "fills": (
                _floats_to_plan(writer, values, "fills")
                if self._numeric
                else [_value_to_json(value, "SimpleImputer fill value") for value in values]
            ),
            "indicator": writer.add(np.asarray(self._indicator, dtype=np.int64), "indicator"),
        }

    @classmethod
    def from_spec(cls, spec: Spec, reader: PlanReader) -> _Impute:
        columns = reader[spec["columns"]].tolist()
        fills = spec["fills"]
        values = reader[fills].tolist() if spec["numeric"] else [_value_from_json(v) for v in fills]
        return cls(
            list(zip(columns, values, strict=True)),
            reader[spec["indicator"]].tolist(),
            bool(spec["numeric"]),
            int(spec["n_in"]),
        )


def _compile_simple_imputer(imputer: Any, n_in: int) -> list[_Step]:
    if not _is_nan(imputer.missing_values):
        raise _Unsupported("SimpleImputer with missing_values other than NaN")
    statistics = imputer.statistics_
    if imputer.keep_empty_features:
        keep = list(range(n_in))
    else:
        # sklearn drops columns whose statistic is NaN (nothing observed during fit).
        keep = [i for i, s in enumerate(statistics.tolist()) if s == s]
    fill_dtype = getattr(imputer, "_fill_dtype", imputer._fit_dtype)
    fills = statistics[keep].astype(fill_dtype, copy=False).tolist()
    numeric = imputer._fit_dtype.kind != "O"
    if numeric:
        fills = [float(s) for s in fills]
    indicator = imputer.indicator_.features_.tolist() if imputer.add_indicator else []
    return [_Impute(list(zip(keep, fills, strict=True)), indicator, numeric, n_in)]
