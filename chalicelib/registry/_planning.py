"""A version's serving plan, made at register (and at retraining) and kept only once proven.

The proof scores the training rows (a seeded sample of PROOF_ROWS when there are more) and
edge rows (each feature missing, unseen, at extremes) through the plan and through the
pipeline, read as serving reads a request: every prediction must be equal and every
probability or value within 1e-9 relative, and a row the pipeline refuses must be refused by
the plan too. Otherwise no plan is stored and the metadata says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chalicelib.registry._artifacts import sha256_hex
from chalicelib.registry._code_check import sample_rows
from chalicelib.registry._explanations import explanation_facts, unavailable
from chalicelib.registry._metadata import ExplanationInfo, PlanInfo
from chalicelib.scoring import Validator, model_frame, replayable
from chalicelib.stats import BOOLEAN, CATEGORY, NUMBER

PROOF_ROWS = 10_000
_HUGE = 10**12  # whole, so it is a valid value of an int column too
_UNSEEN_TEXT = "__never_seen_at_fit__"


def make_plan(
    estimator: Any, frame: Any, features: Sequence[Mapping[str, Any]], order: str
) -> tuple[dict[str, bytes], PlanInfo, ExplanationInfo]:
    """The plan's files ({} when there is none), what the metadata records of it, and of
    the explanations it gives (exact contributions are computed from the plan)."""
    from chalicelib.scoring.plans import Unplannable
    from chalicelib.scoring.plans._plan import (
        PLAN_ARRAYS_FILE,
        PLAN_SPEC_FILE,
        build_plan,
        compare,
        load_plan,
        with_background,
    )

    if order not in ("C", "F"):
        return _not_planned("the pipeline hands its estimator a sparse matrix")
    if not all(replayable(f) for f in features):
        # As for the compiled path: times, and object columns that held None at fit (their
        # encoders tell None from NaN), reach the model only through the pipeline.
        return _not_planned(
            "time columns and text columns that held None at fit are scored by the pipeline"
        )
    try:
        spec, arrays = build_plan(estimator, order)  # type: ignore[arg-type]
        plan = load_plan(spec, arrays)
    except Unplannable as refused:
        return _not_planned(str(refused))
    validator = Validator(features, unknown_categories="accept")
    rows = validator.validate(sample_rows(_sample(frame), features, limit=PROOF_ROWS)).rows
    reason = compare(plan, estimator, rows, model_frame(rows, features))
    checked = len(rows)
    if reason is None:
        edges = validator.validate(edge_rows(rows[0], features, frame)).rows
        # Extremes overflow float32 thresholds by design: numpy's warnings would only alarm.
        with np.errstate(over="ignore", invalid="ignore"):
            reason = _compare_edges(plan, estimator, edges, features)
        checked += len(edges)
    if reason is not None:
        return _not_planned(f"the plan does not answer as the pipeline does: {reason}")
    spec = with_background(spec, plan.transform(rows))
    explained = explanation_facts(load_plan(spec, arrays), rows)
    files = {PLAN_SPEC_FILE: spec, PLAN_ARRAYS_FILE: arrays}
    digests = {filename: sha256_hex(body) for filename, body in files.items()}
    return files, {"state": "planned", "rows_checked": checked, "sha256": digests}, explained


def edge_rows(
    base: Mapping[str, Any], features: Sequence[Mapping[str, Any]], frame: Any
) -> list[dict[str, Any]]:
    """Rows like `base` with one feature changed: missing, unseen, or at an extreme."""
    rows: list[dict[str, Any]] = []
    for feature in features:
        name = str(feature["name"])
        for value in _edge_values(feature, frame[name]):
            rows.append({**base, name: value})
    return rows


def _edge_values(feature: Mapping[str, Any], column: Any) -> list[Any]:
    values: list[Any] = [None]
    kind = feature["type"]
    if kind == NUMBER:
        values += [_HUGE, -_HUGE, 0]
        if str(feature["dtype"]).lower().startswith("float"):
            values += [1e300, -1e300, 5e-324]
    elif kind == CATEGORY and feature.get("value_type", "str") == "str":
        values.append(_UNSEEN_TEXT)
    elif kind == CATEGORY and feature.get("value_type") in ("int", "float"):
        present = column.dropna()
        values.append((max(present) if len(present) else 0) + 1000)
    elif kind == BOOLEAN:
        values += [True, False]
    return values


def _compare_edges(
    plan: Any, estimator: Any, rows: list[dict[str, Any]], features: Sequence[Mapping[str, Any]]
) -> str | None:
    """Compare edge rows together; where the pipeline refuses them, one by one."""
    from chalicelib.scoring.plans._plan import compare

    try:
        return compare(plan, estimator, rows, model_frame(rows, features))
    except (ValueError, TypeError):
        pass  # some row the pipeline refuses: find which, and demand the plan refuses it
    for row in rows:
        frame = model_frame([row], features)
        try:
            estimator.predict(frame)
        except (ValueError, TypeError):
            if _plan_answers(plan, row):
                return f"the pipeline refuses {_describe(row)} but the plan answers it"
            continue
        reason = compare(plan, estimator, [row], frame)
        if reason is not None:
            return f"{reason} ({_describe(row)})"
    return None


def _plan_answers(plan: Any, row: Mapping[str, Any]) -> bool:
    try:
        plan.predict([row])
    except (ValueError, TypeError):
        return False
    return True


def _describe(row: Mapping[str, Any]) -> str:
    return "a row with " + ", ".join(f"{k}={v!r}" for k, v in list(row.items())[:3]) + ", ..."


def _sample(frame: Any) -> Any:
    if len(frame) <= PROOF_ROWS:
        return frame
    return frame.sample(PROOF_ROWS, random_state=0)


def _not_planned(reason: str) -> tuple[dict[str, bytes], PlanInfo, ExplanationInfo]:
    why = f"explanations are computed from a serving plan, and this version has none: {reason}"
    return {}, {"state": "not planned", "reason": reason}, unavailable(why)
