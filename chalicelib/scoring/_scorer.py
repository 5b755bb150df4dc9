"""Scoring one loaded model version: the compiled numpy path, or the pipeline as it is.

The compiled path (`compiled/`) reads records directly and never imports pandas; any model
it does not cover is scored through its own pipeline on a DataFrame, with the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core import InvalidInputError
from chalicelib.scoring._frames import model_frame
from chalicelib.scoring._validation import Validator
from chalicelib.scoring.compiled import compile_model
from chalicelib.stats import DATETIME

log = logging.getLogger(__name__)

# Final estimators whose predict() is the class of highest predict_proba(), so one call gives
# both. Others (e.g. SVC with Platt scaling) can disagree, and are asked for both.
_PREDICT_IS_ARGMAX = {
    "LogisticRegression",
    "LogisticRegressionCV",
    "HistGradientBoostingClassifier",
    "GradientBoostingClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "KNeighborsClassifier",
    "GaussianNB",
    "MultinomialNB",
    "BernoulliNB",
    "MLPClassifier",
}


@dataclass(frozen=True)
class Scores:
    """Predictions per record, and for classifiers the probability of each class."""

    predictions: list[Any]
    probabilities: list[dict[str, float]] | None


class Scorer:
    """A verified model version ready to score validated records."""

    def __init__(self, name: str, version: int, estimator: Any, metadata: Mapping[str, Any]):
        self.name = name
        self.version = version
        self.metadata = metadata
        self.features: list[dict[str, Any]] = list(metadata["features"])
        self.feature_names = [f["name"] for f in self.features]
        self.classes: list[Any] | None = metadata.get("classes")
        self._class_keys = [str(c) for c in self.classes or []]
        self._estimator = estimator
        self._with_proba = bool(self.classes) and hasattr(estimator, "predict_proba")
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        self._argmax_is_predict = type(final).__name__ in _PREDICT_IS_ARGMAX
        order = str(metadata.get("estimator", {}).get("matrix_order") or "C")
        compilable = order != "sparse" and all(replayable(f) for f in self.features)
        self._compiled = _compile(estimator, name, version, order) if compilable else None
        self._validators: dict[tuple[str, str | None], Validator] = {}

    @property
    def compiled(self) -> bool:
        """Whether records are scored by the compiled numpy path."""
        return self._compiled is not None

    def validator(self, unknown_categories: str, entity_field: str | None = None) -> Validator:
        """The validator of this version's schema under the model's serving settings."""
        key = (unknown_categories, entity_field)
        validator = self._validators.get(key)
        if validator is None:
            validator = Validator(
                self.features,
                unknown_categories=unknown_categories,
                expected_extra_fields=[entity_field] if entity_field else (),
            )
            self._validators[key] = validator
        return validator

    def score(self, rows: Sequence[Mapping[str, Any]]) -> Scores:
        """Score validated rows (feature → value, None for missing)."""
        try:
            return self._score(rows)
        except (ValueError, TypeError) as exc:
            raise _refused(exc) from None

    def _score(self, rows: Sequence[Mapping[str, Any]]) -> Scores:
        model: Any = self._compiled
        inputs: Any = rows
        if model is None:
            model, inputs = self._estimator, self._frame(rows)
        if not self._with_proba:
            return Scores([_plain(p) for p in model.predict(inputs).tolist()], None)
        proba = model.predict_proba(inputs)
        keys = self._class_keys
        probabilities = [dict(zip(keys, row, strict=True)) for row in proba.tolist()]
        if self._argmax_is_predict:
            classes = self.classes or []
            predictions = [classes[i] for i in proba.argmax(axis=1).tolist()]
        else:
            predictions = [_plain(p) for p in model.predict(inputs).tolist()]
        return Scores(predictions, probabilities)

    def score_frame(self, frame: Any) -> tuple[Any, Any]:
        """(predictions, probabilities or None) as arrays for a validated feature frame.

        Large batches go through the pipeline itself: its column-wise transforms beat the
        per-record compiled path once there are more than a few hundred rows.
        """
        try:
            return self._score_frame(frame)
        except (ValueError, TypeError) as exc:
            raise _refused(exc) from None

    def _score_frame(self, frame: Any) -> tuple[Any, Any]:
        if not self._with_proba:
            return self._estimator.predict(frame), None
        proba = self._estimator.predict_proba(frame)
        if self._argmax_is_predict:
            import numpy as np

            return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)], proba
        return self._estimator.predict(frame), proba

    def _frame(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        return model_frame(rows, self.features)


def replayable(feature: Mapping[str, Any]) -> bool:
    """Whether the compiled path receives this column as the pipeline does. It reads missing
    values as NaN and values as Python scalars: times (datetime64 to the pipeline) and
    object columns that held None at fit (encoders tell None from NaN) go to the pipeline."""
    return feature.get("type") != DATETIME and feature.get("missing_value") != "none"


def _refused(exc: Exception) -> InvalidInputError:
    # The model refused these values (e.g. a missing value it has no imputer for): the
    # caller's input, not a fault here, so it is not retried.
    return InvalidInputError(f"the model could not score these records: {str(exc)[:300]}")


def _compile(estimator: Any, name: str, version: int, order: str) -> Any:
    try:
        compiled = compile_model(estimator)
    except Exception:  # noqa: BLE001 - compiling is an optimisation; the pipeline still works
        log.warning("compiling %s version %s failed; scoring with the pipeline", name, version)
        return None
    if compiled is not None:
        compiled.order = "F" if order == "F" else "C"
    return compiled


def matrix_order(estimator: Any, frame: Any, features: Sequence[Mapping[str, Any]]) -> str | None:
    """How the pipeline hands its final estimator the transformed rows of `frame` (its first
    few, as serving reads them): "C" or "F" (a dense matrix's memory order: BLAS sums a row
    in another order for another layout, so the last bit of a score differs) or "sparse";
    None when that cannot be told. Found at registration, where pandas is at hand."""
    import numpy as np

    steps = getattr(estimator, "steps", None)
    names = [str(f["name"]) for f in features]
    try:
        head = model_frame(frame[names].head(3).to_dict("records"), features)
        matrix = np.asarray(head) if not steps else estimator[:-1].transform(head)
    except Exception:  # noqa: BLE001 - a pipeline that cannot say is scored as it is
        return None
    if not isinstance(matrix, np.ndarray):
        return "sparse"
    return "F" if matrix.flags.f_contiguous and not matrix.flags.c_contiguous else "C"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
