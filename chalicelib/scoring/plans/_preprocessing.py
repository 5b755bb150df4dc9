"""A fitted pipeline's preprocessing as plan data, and back: the steps `compile_model` builds
from the estimator, each saved by its own `to_spec`, then rebuilt by its class's `from_spec`
into the same objects, so a loaded plan transforms records with the compiled path's own
arithmetic, bit for bit, without the estimator, scikit-learn, SciPy or pandas.

Whatever the compiled path refuses is Unplannable with its reason, and so is a step that has
no data form (a FunctionTransformer running a user's function).
"""

from __future__ import annotations

from typing import Any

from chalicelib.scoring.compiled._base import _Unsupported
from chalicelib.scoring.compiled._chain import _step_from_spec
from chalicelib.scoring.compiled._model import CompiledPreprocessing, _compile_model
from chalicelib.scoring.plans._format import PlanReader, PlanWriter, Spec, Unplannable

KIND = "preprocessing"


def plan_preprocessing(estimator: Any, writer: PlanWriter) -> Spec:
    """The spec of a fitted pipeline's preprocessing: its input names, the compiled steps'
    specs (arrays through `writer`) and the width of the matrix they make."""
    try:
        # The head replays what the final estimator encodes itself (HistGradientBoosting's
        # categories): a head that cannot says so when it is planned.
        compiled = _compile_model(estimator, head_encodes=True)
    except _Unsupported as reason:
        raise Unplannable(f"the compiled path does not cover this model: {reason}") from reason
    except (AttributeError, KeyError) as error:
        # As compile_model: fitted attributes it reads moved in this scikit-learn release.
        raise Unplannable(f"unexpected fitted attributes: {error!r}") from error
    return {
        "kind": KIND,
        "feature_names": list(compiled.feature_names),
        "n_features_out": compiled.n_features_out,
        "steps": [step.to_spec(writer) for step in compiled.steps],
    }


def load_preprocessing(spec: Spec, reader: PlanReader) -> CompiledPreprocessing:
    """The preprocessing `plan_preprocessing` described; set `order` as on a CompiledModel."""
    if spec.get("kind") != KIND:
        raise Unplannable(f"plan kind {spec.get('kind')!r} is not a preprocessing plan")
    steps = tuple(_step_from_spec(step, reader) for step in spec["steps"])
    names = tuple(str(name) for name in spec["feature_names"])
    width = int(spec["n_features_out"])
    # The steps say what width they make: a spec that disagrees was not written by a planner.
    made = steps[-1].width if steps else len(names)
    if made != width:
        raise Unplannable(f"preprocessing steps make {made} features, the spec says {width}")
    return CompiledPreprocessing(names, steps, width)
