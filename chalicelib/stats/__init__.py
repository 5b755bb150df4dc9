"""Statistics, pure: the input signature of a model, the reference profile of its training
data, drift measures against it, quality from joined ground truth and accuracy estimated
without it. No boto3.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.stats._columns import (
        BOOLEAN,
        CATEGORY,
        DATETIME,
        MAX_LEVELS,
        NUMBER,
        VALUE_TYPES,
        Feature,
        describe_column,
        to_json_scalar,
    )
    from chalicelib.stats._divergence import js_distance, psi, smoothed_shares
    from chalicelib.stats._drift import FeatureDrift
    from chalicelib.stats._estimation import (
        ConfidenceEstimate,
        predicted_confidence,
    )
    from chalicelib.stats._profiling import (
        bin_index,
        build_profile,
        categorical_profile,
        column_floats,
        datetime_seconds,
        numeric_profile,
    )
    from chalicelib.stats._quality import (
        class_key,
        classification_quality,
        quality,
        regression_quality,
    )
    from chalicelib.stats._schema import (
        Signature,
        infer_signature,
        input_json_schema,
    )
    from chalicelib.stats._tally import QualityTally
    from chalicelib.stats._thresholds import DriftThresholds, judge

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
