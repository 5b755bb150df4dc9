"""A whole serving plan: the pipeline's preprocessing and its final estimator as data, built
at register, proven equal to the pipeline, and scored from records without scikit-learn.

`ServingPlan` answers as `CompiledModel` does (records in; `predict`, `predict_proba`,
`classes_`), so the scorer can use either. The plan is two files: `plan.json` (the spec) and
`plan.npz` (its arrays), both listed in the version's signed manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from chalicelib.scoring.plans._format import (
    REGISTERED_BEFORE_EXPLANATIONS,
    Head,
    PlanReader,
    PlanWriter,
    Unexplainable,
    Unplannable,
)
from chalicelib.scoring.plans._heads import checks_input_in_parts, load_head, plan_head
from chalicelib.scoring.plans._preprocessing import load_preprocessing, plan_preprocessing

PLAN_FORMAT = 1
PLAN_SPEC_FILE = "plan.json"
PLAN_ARRAYS_FILE = "plan.npz"
RTOL = 1e-9  # the proof's bar for probabilities, decision values and regressed values

Records = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PlanExplanation:
    """Exact contributions of each input feature to a plan's raw output, for some records.

    `contributions` has shape (rows, features, outputs) and `base` (outputs,); per record,
    base + its contributions summed over the features equals `raw` (rows, outputs). Outputs
    are `outputs`: the classes explained (a binary classifier: its positive class alone), or
    [None] for one regressed value. `scale` is what the raw output is ("log-odds", ...).
    """

    features: tuple[str, ...]
    outputs: list[Any]
    scale: str
    base: np.ndarray
    contributions: np.ndarray
    raw: np.ndarray


class ServingPlan:
    """A planned version: records → the final estimator's matrix → its answers, in numpy."""

    def __init__(self, preprocessing: Any, head: Head, *, allow_nan: bool) -> None:
        self._preprocessing = preprocessing
        self._head = head
        self._allow_nan = allow_nan
        self.feature_names: tuple[str, ...] = tuple(preprocessing.feature_names)
        self._fold: np.ndarray | None = None

    def explainable(self) -> str | None:
        """None when `explain` can answer; else why not, in words for the user."""
        if not hasattr(self._head, "explain"):
            return (
                "exact explanations exist for linear and logistic models, decision trees and "
                "tree ensembles; this model is none of those"
            )
        # Linear heads need the reference mean, tree heads their node covers: a plan written
        # before explanations has neither.
        head = self._head
        if getattr(head, "background", False) is None or getattr(head, "covers", False) is None:
            return REGISTERED_BEFORE_EXPLANATIONS
        return None

    def explain(self, records: Records) -> PlanExplanation:
        """Each input feature's exact contribution to the raw output of each record; the
        columns one feature became (a one-hot block) are summed back into it.

        `raw` is base + contributions (SHAP values add up to the model's raw output: checked
        against `raw_output` at register), so explaining costs no second prediction."""
        reason = self.explainable()
        if reason is not None:
            raise Unexplainable(reason)
        head: Any = self._head
        base, contributions = head.explain(self.transform(records))
        keep = self._kept_outputs(base.shape[0])
        base, contributions = base[keep], contributions[..., keep]
        raw = base[None, :] + contributions.sum(axis=1)
        # (rows, outputs, columns) @ (columns, features): each feature's columns summed.
        folded = (contributions.transpose(0, 2, 1) @ self._folding()).transpose(0, 2, 1)
        outputs = self._output_names(base.shape[0])
        return PlanExplanation(self.feature_names, outputs, head.raw_scale, base, folded, raw)

    def raw_output(self, records: Records) -> np.ndarray:
        """The raw output `explain` explains, from the head itself, (rows, outputs)."""
        head: Any = self._head
        raw = head.raw_output(self.transform(records))
        return raw[:, self._kept_outputs(raw.shape[1])]

    def _kept_outputs(self, k: int) -> slice:
        """The head's outputs that are explained: a binary tree's class fractions come as two
        columns, and the positive class's says it all."""
        classes = self._head.classes
        return slice(1, None) if classes is not None and k == 2 == len(classes) else slice(None)

    def _output_names(self, k: int) -> list[Any]:
        """The classes explained (a binary classifier: its positive class), or [None] * k."""
        if self._head.classes is None:
            return [None] * k
        return self._head.classes.tolist()[-k:]

    def _folding(self) -> np.ndarray:
        """(matrix columns, features): 1 where a column is made from a feature."""
        if self._fold is None:
            origins = self._preprocessing.origins()
            fold = np.zeros((len(origins), len(self.feature_names)))
            fold[np.arange(len(origins)), origins] = 1.0
            self._fold = fold
        return self._fold

    @property
    def classes_(self) -> np.ndarray:
        """The class labels of a classifier (AttributeError for regressors, as the pipeline)."""
        if self._head.classes is None:
            raise AttributeError("a regressor has no classes_")
        return self._head.classes

    def transform(self, records: Records) -> np.ndarray:
        """The matrix the final estimator sees, refused where the estimator's own input check
        (scikit-learn's check_array) would refuse it: the plan never answers what the
        pipeline would not."""
        matrix = np.asarray(self._preprocessing.transform(records))
        if not np.isfinite(matrix).all():
            if np.isinf(matrix).any():
                raise ValueError("Input X contains infinity or a value too large for float64.")
            if not self._allow_nan:
                raise ValueError("Input X contains NaN: the estimator does not accept it.")
        return matrix

    def predict(self, records: Records) -> np.ndarray:
        """The final estimator's predictions, one per record."""
        return self._head.predict(self.transform(records))

    @property
    def predict_proba(self) -> Callable[[Records], np.ndarray]:
        """Class probabilities per record; only where the final estimator has them."""
        proba = getattr(self._head, "predict_proba", None)
        if proba is None:
            raise AttributeError("the planned estimator has no predict_proba")
        transform = self.transform
        return lambda records: proba(transform(records))


def build_plan(estimator: Any, order: Literal["C", "F"]) -> tuple[bytes, bytes]:
    """(plan.json, plan.npz) of a fitted pipeline; Unplannable with the reason otherwise.

    `order` is the memory order in which the pipeline hands its final estimator the matrix
    (`scoring.matrix_order`): BLAS sums a row differently for another layout.
    """
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    writer = PlanWriter()
    preprocessing = plan_preprocessing(estimator, writer)
    head = plan_head(final, writer)
    spec = {
        "format": PLAN_FORMAT,
        "order": order,
        "preprocessing": preprocessing,
        "head": head,
        # A wrapper's parts refuse NaN or not themselves, in their heads as in scikit-learn.
        "allow_nan": _allows_nan(final) or checks_input_in_parts(head),
    }
    return json.dumps(spec, sort_keys=True).encode(), writer.save()


def load_plan(spec_file: bytes, arrays_file: bytes) -> ServingPlan:
    """The plan stored as `build_plan` wrote it; nothing is unpickled."""
    spec = json.loads(spec_file)
    if spec.get("format") != PLAN_FORMAT:
        raise Unplannable(f"plan format {spec.get('format')!r} is not known to this runtime")
    reader = PlanReader(arrays_file)
    preprocessing = load_preprocessing(spec["preprocessing"], reader)
    preprocessing.order = spec.get("order", "C")
    head = load_head(spec["head"], reader)
    background = spec.get("background")
    if background is not None and hasattr(head, "background"):
        head.background = np.asarray(background["mean"], dtype=np.float64)
    return ServingPlan(preprocessing, head, allow_nan=bool(spec.get("allow_nan", False)))


def with_background(spec_file: bytes, matrix: np.ndarray) -> bytes:
    """plan.json with the mean row of the reference sample's matrix, the base a linear
    head's contributions are measured from (exact in JSON: floats keep their repr)."""
    mean = np.mean(matrix, axis=0)
    if not np.isfinite(mean).all():
        return spec_file
    spec = json.loads(spec_file)
    spec["background"] = {"mean": mean.tolist(), "rows": int(matrix.shape[0])}
    return json.dumps(spec, sort_keys=True).encode()


def _allows_nan(estimator: Any) -> bool:
    """Whether the estimator takes NaN in its input (scikit-learn's `allow_nan` tag)."""
    try:
        return bool(estimator.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False


def compare(plan: ServingPlan, estimator: Any, records: Records, frame: Any) -> str | None:
    """Why the plan's answers on `records` differ from the pipeline's on `frame` (the same
    rows as the pipeline reads them), or None when every prediction is equal and every
    probability or value is within RTOL relative."""
    expected = np.asarray(estimator.predict(frame))
    actual = plan.predict(records)
    classifier = getattr(plan._head, "classes", None) is not None
    if classifier and not np.array_equal(actual, expected):
        return f"{int(np.sum(actual != expected))} of {len(expected)} predictions differ"
    if not classifier and not _close(actual, expected):
        return f"predicted values differ by up to {_worst(actual, expected):.3g} relative"
    if classifier and hasattr(estimator, "predict_proba"):
        try:
            proba = plan.predict_proba
        except AttributeError:
            return "the plan has no probabilities where the pipeline has them"
        mine, theirs = proba(records), np.asarray(estimator.predict_proba(frame))
        if not _close(mine, theirs):
            return f"probabilities differ by up to {_worst(mine, theirs):.3g} relative"
    return None


def _close(actual: np.ndarray, expected: np.ndarray) -> bool:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return False
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    return bool(np.all(same | (np.abs(actual - expected) <= RTOL * np.abs(expected))))


def _worst(actual: np.ndarray, expected: np.ndarray) -> float:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return float("inf")
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.abs(actual - expected) / np.abs(expected)
    return float(np.nanmax(np.where(actual == expected, 0.0, relative)))
