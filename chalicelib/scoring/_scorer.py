"""Scoring one model version: its serving plan, the compiled numpy path, or the pipeline.

A planned version (`plans/`, proven equal to its pipeline at register) is scored from its
plan alone: nothing is unpickled and scikit-learn, SciPy and pandas are never imported, unless
a batch frame larger than PLAN_FRAME_ROWS asks for the pipeline (scikit-learn's compiled
predictors are faster there). Versions without a plan load their pipeline: the compiled path
(`compiled/`) replays its preprocessing on records without pandas, and any model it does not
cover is scored through the pipeline on a DataFrame, with the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core import (
    ExplanationUnavailable,
    InvalidInputError,
    ModelCodeMissing,
    VersionSkewError,
)
from chalicelib.scoring._explanations import contribution_names
from chalicelib.scoring._frames import frame_records, model_frame
from chalicelib.scoring._validation import Validator
from chalicelib.scoring.compiled import compile_model
from chalicelib.stats import DATETIME

log = logging.getLogger(__name__)

# Batch frames up to this many rows are scored by a version's plan; larger ones by its
# pipeline, whose column-wise transforms and compiled predictors beat the plan's per-record
# preprocessing there. bench/bench_plans.py, one thread: the plan is 2-3x the pipeline's rows
# per second at 100 rows, even at 500, and 0.4-0.8x at 2,000.
PLAN_FRAME_ROWS = 500

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
        """A version scored by its fitted pipeline `estimator` (through the compiled path
        where it covers it). Planned versions are made with `from_plan`."""
        self._setup(name, version, metadata)
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        self._argmax_is_predict = type(final).__name__ in _PREDICT_IS_ARGMAX
        self._with_proba = bool(self.classes) and hasattr(estimator, "predict_proba")
        self._estimator: Any = estimator
        self._load_estimator: Callable[[], Any] = lambda: estimator
        self._plan: Any = None
        order = str(metadata.get("estimator", {}).get("matrix_order") or "C")
        compilable = order != "sparse" and all(replayable(f) for f in self.features)
        self._records_model: Any = _compile(estimator, name, version, order) if compilable else None

    @classmethod
    def from_plan(
        cls,
        name: str,
        version: int,
        plan: Any,
        metadata: Mapping[str, Any],
        load_estimator: Callable[[], Any],
    ) -> Scorer:
        """A planned version: records are scored by `plan` (a proven ServingPlan), and
        `load_estimator` unpickles the pipeline only if a large batch frame needs it."""
        scorer = cls.__new__(cls)
        scorer._setup(name, version, metadata)
        final = str(metadata.get("estimator", {}).get("final_estimator", ""))
        scorer._argmax_is_predict = final in _PREDICT_IS_ARGMAX
        scorer._with_proba = bool(scorer.classes) and hasattr(plan, "predict_proba")
        scorer._estimator = None
        scorer._load_estimator = load_estimator
        scorer._plan = plan
        scorer._records_model = plan
        return scorer

    def _setup(self, name: str, version: int, metadata: Mapping[str, Any]) -> None:
        self.name = name
        self.version = version
        self.metadata = metadata
        self.features: list[dict[str, Any]] = list(metadata["features"])
        self.feature_names = [f["name"] for f in self.features]
        self.classes: list[Any] | None = metadata.get("classes")
        self._class_keys = [str(c) for c in self.classes or []]
        self._validators: dict[tuple[str, str | None], Validator] = {}
        self._pipeline_refused: str | None = None  # why the pipeline cannot load, once tried

    @property
    def compiled(self) -> bool:
        """Whether records are scored without the pipeline (by the plan or compiled path)."""
        return self._records_model is not None

    @property
    def planned(self) -> bool:
        """Whether the version is scored from its serving plan."""
        return self._plan is not None

    @property
    def scored_by(self) -> str:
        """What scores records: "plan", "compiled" or "pipeline" (for logs)."""
        return "plan" if self.planned else "compiled" if self.compiled else "pipeline"

    def _pipeline(self) -> Any:
        if self._estimator is None:
            self._estimator = self._load_estimator()
        return self._estimator

    def _pipeline_loads(self) -> bool:
        """Whether the pipeline of a planned version loads in this runtime. A plan does not
        depend on scikit-learn's version or the version's own modules, so where the pipeline
        cannot load here (saved under other library versions, code not shipped) the plan
        scores every frame, with the same answers, only slower on large ones."""
        if self._pipeline_refused is None:
            try:
                self._pipeline()
                self._pipeline_refused = ""
            except (VersionSkewError, ModelCodeMissing) as refused:
                self._pipeline_refused = refused.message
                log.warning(
                    "%s version %s: scoring large frames with the plan: %s",
                    self.name,
                    self.version,
                    refused.message,
                )
        return not self._pipeline_refused

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
        model: Any = self._records_model
        inputs: Any = rows
        if model is None:
            model, inputs = self._pipeline(), self._frame(rows)
        return self._answers(model, inputs)

    def _answers(self, model: Any, inputs: Any) -> Scores:
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

    def explain(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Each input feature's exact contribution to the raw output of each validated row
        (a `PlanExplanation`); ExplanationUnavailable, a 400, where the version has none."""
        from chalicelib.scoring.plans import Unexplainable

        reason = self.unexplained()
        if reason is not None:
            raise ExplanationUnavailable(reason)
        try:
            return self._plan.explain(rows)
        except Unexplainable as refused:
            raise ExplanationUnavailable(self._unavailable(str(refused))) from None
        except (ValueError, TypeError) as exc:
            raise _refused(exc) from None

    def explain_frame(self, frame: Any) -> Any:
        """`explain` for the rows of a validated feature frame (batch scoring)."""
        return self.explain(frame_records(frame))

    def contribution_names(self) -> list[str]:
        """The contribution columns this version's scored files carry when explained."""
        outputs = (self.metadata.get("explanations") or {}).get("outputs") or [None]
        return contribution_names(self.feature_names, outputs)

    def unexplained(self) -> str | None:
        """Why this version's predictions cannot be explained, for the user; None if they can."""
        if self._plan is None:
            info = self.metadata.get("explanations") or {}
            why = info.get("reason") or (
                "explanations are computed from a serving plan, and this version has none"
            )
            return self._unavailable(str(why))
        reason = self._plan.explainable()
        return None if reason is None else self._unavailable(reason)

    def _unavailable(self, why: str) -> str:
        final = self.metadata.get("estimator", {}).get("final_estimator") or "its model"
        version = f"{self.name} version {self.version}"
        return f"explanations are not available for {version} ({final}): {why}"

    def score_frame(self, frame: Any) -> tuple[Any, Any]:
        """(predictions, probabilities or None) as arrays for a validated feature frame.

        A planned version scores frames of up to PLAN_FRAME_ROWS rows with its plan; larger
        ones, and every frame of a version without a plan, go through the pipeline itself:
        its column-wise transforms beat the per-record paths on many rows.
        """
        try:
            return self._score_frame(frame)
        except (ValueError, TypeError) as exc:
            raise _refused(exc) from None

    def _score_frame(self, frame: Any) -> tuple[Any, Any]:
        import numpy as np

        model: Any = self._plan
        inputs: Any = frame
        if model is not None and (len(frame) <= PLAN_FRAME_ROWS or not self._pipeline_loads()):
            inputs = frame_records(frame)
        else:
            model = self._pipeline()
        if not self._with_proba:
            return np.asarray(model.predict(inputs)), None
        proba = model.predict_proba(inputs)
        if self._argmax_is_predict:
            return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)], proba
        return np.asarray(model.predict(inputs)), proba

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


# Final estimators of versions without a stored plan (registered before plans) whose matrix
# the compiled path hands to a plan's head, unproven for that version: the ones this path has
# always replayed, proven bit for bit against their pipelines (tests/app/test_column_fidelity).
_REPLAYED_WITHOUT_PLAN = frozenset(
    f"sklearn.linear_model.{module}.{name}"
    for module, name in (
        ("_logistic", "LogisticRegression"),
        ("_base", "LinearRegression"),
        ("_ridge", "Ridge"),
    )
)


def _compile(estimator: Any, name: str, version: int, order: str) -> Any:
    try:
        compiled = compile_model(estimator, head=_replayed_head(estimator))
    except Exception:  # noqa: BLE001 - compiling is an optimisation; the pipeline still works
        log.warning("compiling %s version %s failed; scoring with the pipeline", name, version)
        return None
    if compiled is not None:
        compiled.order = "F" if order == "F" else "C"
    return compiled


def _replayed_head(estimator: Any) -> Any | None:
    """The plan head of a final estimator in _REPLAYED_WITHOUT_PLAN, built in memory."""
    from chalicelib.scoring.plans import PlanReader, PlanWriter, Unplannable
    from chalicelib.scoring.plans._heads import class_path, load_head, plan_head

    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if class_path(final) not in _REPLAYED_WITHOUT_PLAN:
        return None
    writer = PlanWriter()
    try:
        return load_head(plan_head(final, writer), PlanReader(writer.arrays))
    except Unplannable:
        return None  # e.g. sparsified coefficients: the estimator scores the matrix


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
