"""Serving plans: a fitted final estimator as data (JSON plus numpy arrays saved without
pickle) and its evaluation in plain numpy, so a planned version serves without importing
scikit-learn or unpickling anything.

`_format` holds the data form every family shares (PlanWriter, PlanReader, Unplannable);
each family module turns its estimators into a spec at register (`plan_<family>`, reading
fitted attributes; scikit-learn is never imported here) and evaluates a spec (a `Head`).
`_heads` is the table from estimator classes to families.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.scoring.plans._format import (
        ExplainedHead,
        Head,
        PlanReader,
        PlanWriter,
        Spec,
        Unexplainable,
        Unplannable,
    )
    from chalicelib.scoring.plans._plan import (
        PLAN_ARRAYS_FILE,
        PLAN_SPEC_FILE,
        ServingPlan,
        build_plan,
        compare,
        load_plan,
    )

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
