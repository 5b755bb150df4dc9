"""`CompiledModel` and `compile_model`: a fitted pipeline's preprocessing replayed in plain
Python over records (`CompiledPreprocessing`, which a serving plan also rebuilds from data),
then its final estimator on the resulting ndarray.

Scoring a handful of JSON records through pandas and ColumnTransformer costs several times
what the final estimator itself costs. `compile_model` walks a fitted pipeline once, turns
each supported step into constants and lookup tables, and scores records without pandas.
Anything it cannot reproduce exactly makes it return None, so the caller keeps the pipeline.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from chalicelib.scoring.compiled._base import (
    Records,
    Rows,
    _is,
    _is_identity,
    _Step,
    _Unsupported,
)
from chalicelib.scoring.compiled._chain import _compile_chain

logger = logging.getLogger(__name__)

_NAN = math.nan


class CompiledPreprocessing:
    """Compiled steps from JSON-like records to the float matrix a final estimator sees."""

    def __init__(
        self, feature_names: tuple[str, ...], steps: tuple[_Step, ...], n_features_out: int
    ) -> None:
        self.feature_names = feature_names
        self.n_features_out = n_features_out
        # Memory order of the matrix the final estimator gets: the pipeline's own ('F' for a
        # frame's single block), since BLAS sums a row in another order for another layout
        # and the last bit of a score would differ (see `scoring.matrix_order`).
        self.order: Literal["C", "F"] = "C"
        self.steps = steps

    def __repr__(self) -> str:
        return (
            f"CompiledPreprocessing({len(self.feature_names)} inputs -> "
            f"{self.n_features_out} features)"
        )

    def origins(self) -> list[int]:
        """The input feature (its index in `feature_names`) each matrix column is made from:
        explanations fold the columns of a one-hot block back into their feature."""
        origins = list(range(len(self.feature_names)))
        for step in self.steps:
            origins = step.trace(origins)
        return origins

    def transform(self, records: Records) -> np.ndarray:
        """The float matrix the final estimator sees, one row per record."""
        if not records:
            raise ValueError("No records to score: at least one is required.")
        names = self.feature_names
        rows: Rows = [[_NAN if v is None else v for v in map(rec.get, names)] for rec in records]
        for step in self.steps:
            rows = step(rows)
        return np.array(rows, dtype=np.float64, order=self.order)


class CompiledModel(CompiledPreprocessing):
    """A fitted model whose preprocessing runs over JSON-like records without pandas."""

    def __init__(
        self,
        feature_names: tuple[str, ...],
        steps: tuple[_Step, ...],
        n_features_out: int,
        final_estimator: Any,
        scorer: Any,
        head: Any | None,
    ) -> None:
        super().__init__(feature_names, steps, n_features_out)
        self.final_estimator = final_estimator
        # The matrix goes to `head` (a numpy replica of the final estimator, e.g. a serving
        # plan's head) where the caller has one, else to the estimator itself. Bound once
        # here so each call pays a single attribute lookup.
        model = scorer if head is None else head
        self._predict: Callable[[np.ndarray], np.ndarray] = model.predict
        self._proba: Callable[[np.ndarray], np.ndarray] | None = getattr(
            model, "predict_proba", None
        )

    def __repr__(self) -> str:
        return (
            f"CompiledModel({type(self.final_estimator).__name__}, "
            f"{len(self.feature_names)} inputs -> {self.n_features_out} features)"
        )

    @property
    def classes_(self) -> np.ndarray:
        """The final estimator's class labels (classifiers only)."""
        return self.final_estimator.classes_

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


def compile_model(estimator: Any, head: Any | None = None) -> CompiledModel | None:
    """Compile a fitted Pipeline or estimator for record scoring; None when unsupported.
    `head`: a numpy replica of the final estimator to score the matrix with, if any."""
    try:
        return _compile_model(estimator, head=head)
    except _Unsupported as reason:
        logger.debug("model not compiled, the pipeline will score: %s", reason)
    except (AttributeError, KeyError):
        # Fitted attributes read here are partly private to scikit-learn: if a release moves
        # one, serving must go on through the pipeline rather than fail to load.
        logger.warning("model not compiled: unexpected fitted attributes", exc_info=True)
    return None


def _compile_model(
    estimator: Any, *, head_encodes: bool = False, head: Any | None = None
) -> CompiledModel:
    """Compile or raise _Unsupported. `head_encodes`: whatever scores the matrix replays the
    final estimator's own encoding of its input (as a serving plan's head does)."""
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
    # e.g. HistGradientBoosting with categorical features encodes them itself. A plan's head
    # replays that on a matrix, but not the dtypes of a frame it was fitted on.
    encodes_frame = not head_encodes or hasattr(final, "feature_names_in_")
    if getattr(final, "_preprocessor", None) is not None and encodes_frame:
        raise _Unsupported("the estimator preprocesses its own input")
    scorer = _without_feature_names(final)
    _check_scores_ndarray(scorer, width)
    return CompiledModel(feature_names, tuple(steps), width, final, scorer, head)


def _flatten(estimator: Any) -> list[Any]:
    """Steps of (nested) Pipelines in order, identity steps removed; a bare estimator alone."""
    if not _is(estimator, "sklearn.pipeline", "Pipeline"):
        return [estimator]
    *head, (_, last) = estimator.steps
    flat = [step for _, est in head for step in _flatten(est) if not _is_identity(step)]
    return flat + _flatten(last)


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
