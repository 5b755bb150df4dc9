"""Compiled scoring: a fitted pipeline's preprocessing replayed in plain Python over records.

Scoring a handful of JSON records through pandas and ColumnTransformer costs several times
what the final estimator itself costs. `compile_model` walks a fitted pipeline once, turns
each supported step into constants and lookup tables, and scores records without pandas.
Anything it cannot reproduce exactly makes it return None, so the caller keeps the pipeline.

Missing values are None or NaN alike: both behave like NaN in a pandas column.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

Row = Sequence[Any]
Rows = list[Row]
Records = Sequence[Mapping[str, Any]]

_NAN = math.nan
_ZEROS = -1  # one-hot target meaning "no column set"


class _Unsupported(Exception):
    """A step compile_model cannot reproduce exactly; the caller falls back to the pipeline."""


class _Step(Protocol):
    """One compiled transformer: rows of `n_in` values in, rows of `width` values out."""

    width: int

    def __call__(self, rows: Rows) -> Rows: ...


class CompiledModel:
    """A fitted model whose preprocessing runs over JSON-like records without pandas."""

    def __init__(
        self,
        feature_names: tuple[str, ...],
        steps: tuple[_Step, ...],
        n_features_out: int,
        final_estimator: Any,
        scorer: Any,
        head: _LinearHead | None,
    ) -> None:
        self.feature_names = feature_names
        self.n_features_out = n_features_out
        self.final_estimator = final_estimator
        self._steps = steps
        # Bound once here so each call pays a single attribute lookup.
        self._predict: Callable[[np.ndarray], np.ndarray] = (
            head.predict if head is not None else scorer.predict
        )
        self._proba: Callable[[np.ndarray], np.ndarray] | None = None
        if head is not None and head.has_proba:
            self._proba = head.predict_proba
        elif head is None and hasattr(scorer, "predict_proba"):
            self._proba = scorer.predict_proba

    def __repr__(self) -> str:
        return (
            f"CompiledModel({type(self.final_estimator).__name__}, "
            f"{len(self.feature_names)} inputs -> {self.n_features_out} features)"
        )

    @property
    def classes_(self) -> np.ndarray:
        """The final estimator's class labels (classifiers only)."""
        return self.final_estimator.classes_

    def transform(self, records: Records) -> np.ndarray:
        """The float matrix the final estimator sees, one row per record."""
        if not records:
            raise ValueError("No records to score: at least one is required.")
        names = self.feature_names
        rows: Rows = [[_NAN if v is None else v for v in map(rec.get, names)] for rec in records]
        for step in self._steps:
            rows = step(rows)
        return np.array(rows, dtype=np.float64)

    def predict(self, records: Records) -> np.ndarray:
        """Predictions of the final estimator, one per record."""
        return self._predict(self.transform(records))

    @property
    def predict_proba(self) -> Callable[[Records], np.ndarray]:
        """Class probabilities per record; only when the final estimator has predict_proba."""
        proba = self._proba
        if proba is None:
            raise AttributeError(
                f"{type(self.final_estimator).__name__} does not implement predict_proba"
            )
        transform = self.transform
        return lambda records: proba(transform(records))


def compile_model(estimator: Any) -> CompiledModel | None:
    """Compile a fitted Pipeline or estimator for record scoring; None when unsupported."""
    try:
        return _compile_model(estimator)
    except _Unsupported as reason:
        logger.debug("model not compiled, the pipeline will score: %s", reason)
    except (AttributeError, KeyError):
        # Fitted attributes read here are partly private to scikit-learn: if a release moves
        # one, serving must go on through the pipeline rather than fail to load.
        logger.warning("model not compiled: unexpected fitted attributes", exc_info=True)
    return None


def _compile_model(estimator: Any) -> CompiledModel:
    """Compile or raise _Unsupported."""
    *transformers, final = _flatten(estimator)
    if final is None or isinstance(final, str) or not hasattr(final, "predict"):
        raise _Unsupported("the last step is not an estimator with predict")
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise _Unsupported("the model was not fitted on named columns")
    feature_names = tuple(str(name) for name in names)
    steps, width = _compile_chain(transformers, len(feature_names))
    if getattr(final, "n_features_in_", width) != width:
        raise _Unsupported(f"estimator expects {final.n_features_in_} features, compiled {width}")
    if getattr(final, "_preprocessor", None) is not None:
        # e.g. HistGradientBoosting fitted on pandas categoricals encodes them itself.
        raise _Unsupported("the estimator preprocesses its own input")
    scorer = _without_feature_names(final)
    _check_scores_ndarray(scorer, width)
    return CompiledModel(
        feature_names, tuple(steps), width, final, scorer, _linear_head(final, width)
    )


def _flatten(estimator: Any) -> list[Any]:
    """Steps of (nested) Pipelines in order, identity steps removed; a bare estimator alone."""
    if not _is(estimator, "sklearn.pipeline", "Pipeline"):
        return [estimator]
    *head, (_, last) = estimator.steps
    flat = [step for _, est in head for step in _flatten(est) if not _is_identity(step)]
    return flat + _flatten(last)


def _is_identity(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _is(obj: Any, module: str, name: str) -> bool:
    """True when obj is exactly sklearn's `module.name`, importing nothing new otherwise."""
    cls = type(obj)
    if cls.__name__ != name:
        return False
    # The object exists, so its (already imported) package makes this lookup cheap.
    return cls is getattr(importlib.import_module(module), name, None)


def _without_feature_names(estimator: Any) -> Any:
    """A shallow copy that no longer expects named columns, so ndarrays raise no warning."""
    if not hasattr(estimator, "feature_names_in_"):
        return estimator
    unnamed = copy.copy(estimator)
    try:
        del unnamed.feature_names_in_
    except AttributeError as error:
        raise _Unsupported("cannot strip the estimator's feature names") from error
    return unnamed


def _check_scores_ndarray(scorer: Any, width: int) -> None:
    """Call the estimator once on zeros: it must accept an ndarray without complaint."""
    probe = np.zeros((1, width))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scorer.predict(probe)
        except Exception as error:  # noqa: BLE001 - any failure means "use the pipeline"
            raise _Unsupported(f"estimator rejects an ndarray: {error}") from error
    if any("feature names" in str(w.message) for w in caught):
        raise _Unsupported("estimator still expects named columns")


# ---------------------------------------------------------------------------------------------
# Transformers


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


class _Columns:
    """ColumnTransformer: each branch reads its columns; outputs are concatenated in order."""

    __slots__ = ("_branches", "width")

    def __init__(
        self, branches: list[tuple[Callable[[Row], Row] | None, tuple[_Step, ...]]], width: int
    ) -> None:
        self._branches = branches
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


def _compile_column_transformer(ct: Any, n_in: int) -> list[_Step]:
    if ct.transformer_weights:
        raise _Unsupported("ColumnTransformer with transformer_weights")
    branches: list[tuple[Callable[[Row], Row] | None, tuple[_Step, ...]]] = []
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
        branches.append((_getter(indices, n_in), tuple(steps)))
        width += steps[-1].width if steps else len(indices)
    return [_Columns(branches, width)]


def _getter(indices: list[int], n_in: int) -> Callable[[Row], Row] | None:
    """Fast column selection; None when it would select every column in order."""
    if indices == list(range(n_in)):
        return None
    if len(indices) == 1:
        (index,) = indices
        return lambda row: (row[index],)
    return itemgetter(*indices)


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


# A category lookup per input column: value -> output, output for missing, output for unknown.
# An output of None for missing/unknown means "raise like sklearn's handle_unknown='error'".
_Lookup = tuple[dict[Any, Any], Any, Any, int]


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


class _Function:
    """FunctionTransformer: its function applied to the numpy block of the current rows."""

    __slots__ = ("_check", "_func", "_kwargs", "width")

    def __init__(
        self,
        func: Callable[..., Any],
        kwargs: dict[str, Any],
        check: Callable[[np.ndarray], np.ndarray] | None,
    ) -> None:
        self._func = func
        self._kwargs = kwargs
        self._check = check
        self.width = 0

    def block(self, rows: Rows) -> np.ndarray:
        """The function's output as a 2-D ndarray."""
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            matrix = np.array(rows, dtype=object)  # strings: as pandas would hand them over
        if self._check is not None:
            matrix = self._check(matrix)
        return np.asarray(self._func(matrix, **self._kwargs))

    def __call__(self, rows: Rows) -> Rows:
        return self.block(rows).tolist()


def _compile_function_transformer(transformer: Any, n_in: int) -> list[_Step]:
    if transformer.func is None and not transformer.validate:
        return []  # what ColumnTransformer uses for "passthrough"
    check = None
    if transformer.validate:
        from sklearn.utils.validation import check_array

        accept_sparse = transformer.accept_sparse

        def check(matrix: np.ndarray) -> np.ndarray:
            return check_array(matrix, accept_sparse=accept_sparse)

    step = _Function(transformer.func or _identity, dict(transformer.kw_args or {}), check)
    # Only keep it if the function works on a plain ndarray and keeps it 2-D, row for row.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            probe = step.block([[0.0] * n_in])
        except Exception as error:  # noqa: BLE001 - e.g. it needs a DataFrame
            raise _Unsupported(f"FunctionTransformer fails on an ndarray: {error}") from error
    if probe.ndim != 2 or probe.shape[0] != 1:
        raise _Unsupported("FunctionTransformer does not return one row per input row")
    step.width = probe.shape[1]
    return [step]


def _identity(x: Any) -> Any:
    return x


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


_COMPILERS: dict[str, tuple[str, Callable[[Any, int], list[_Step]]]] = {
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


# ---------------------------------------------------------------------------------------------
# Final estimator fast path


class _LinearHead:
    """numpy replica of LogisticRegression / LinearRegression / Ridge scoring, same formulas."""

    __slots__ = ("_classes", "_coef", "_expit", "_intercept", "_kind", "has_proba")

    _classes: Any
    _coef: np.ndarray
    _expit: Callable[..., np.ndarray]
    _intercept: Any

    def __init__(self, estimator: Any, kind: str) -> None:
        coef = estimator.coef_
        self._kind = kind
        self._coef = coef.T if coef.ndim == 2 else coef
        self._intercept = estimator.intercept_
        self._classes = getattr(estimator, "classes_", None)
        self.has_proba = kind == "logistic"
        if self.has_proba:
            from scipy.special import expit  # what sklearn's _expit calls for numpy input

            self._expit = expit

    def _scores(self, X: np.ndarray) -> np.ndarray:
        # sklearn validates X first; NaN or inf must fail here as they do there.
        if not math.isfinite(X.sum()) and not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity.")
        return X @ self._coef + self._intercept

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """LinearClassifierMixin.decision_function: 1-D for binary problems."""
        scores = self._scores(X)
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (logistic) or regression values (linear)."""
        if self._kind == "linear":
            return self._scores(X)
        scores = self.decision_function(X)
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self._classes.take(indices, axis=0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Sigmoid for binary problems, softmax over classes otherwise, as sklearn computes them."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            prob = self._expit(scores, out=scores)
            # Same values as np.stack([1 - prob, prob], axis=1), without its overhead.
            out = np.empty((prob.shape[0], 2))
            np.subtract(1, prob, out=out[:, 0])
            out[:, 1] = prob
            return out
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores


def _linear_head(estimator: Any, width: int) -> _LinearHead | None:
    """The numpy fast path when the final estimator is a plain linear model, else None."""
    if _is(estimator, "sklearn.linear_model", "LogisticRegression"):
        kind = "logistic"
    elif _is(estimator, "sklearn.linear_model", "LinearRegression") or _is(
        estimator, "sklearn.linear_model", "Ridge"
    ):
        kind = "linear"
    else:
        return None
    coef = getattr(estimator, "coef_", None)
    if not isinstance(coef, np.ndarray) or coef.shape[-1] != width or coef.dtype != np.float64:
        return None  # sparsified or unusual coefficients: let the estimator score
    if kind == "logistic" and len(estimator.classes_) < 2:
        return None
    return _LinearHead(estimator, kind)
