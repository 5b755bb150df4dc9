"""Scoring one loaded model: records checked against its signature, then the compiled numpy
path or the pipeline itself, with the same results. No boto3.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.scoring._benchmark import Benchmark, Figures, json_records, measure
    from chalicelib.scoring._explanations import (
        CONTRIBUTION_PREFIX,
        contribution_names,
        explanation_columns,
        explanation_records,
    )
    from chalicelib.scoring._frames import model_frame, model_series
    from chalicelib.scoring._scorer import Scorer, Scores, matrix_order, replayable
    from chalicelib.scoring._validation import (
        UNKNOWN_CATEGORY_POLICIES,
        UNSEEN_SHOWN,
        Problem,
        ValidatedRecords,
        Validator,
    )
    from chalicelib.scoring._values import (
        NON_FINITE,
        InvalidValue,
        UnseenCategory,
        is_whole_dtype,
        value_checker,
    )
    from chalicelib.scoring.compiled import CompiledModel, compile_model

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
