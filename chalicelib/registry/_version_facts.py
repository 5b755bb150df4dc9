"""What register records of a fitted estimator and its data: metrics checked, the
estimator described, a content hash of training data given as a frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError
from chalicelib.registry._artifacts import sha256_hex
from chalicelib.registry._metadata import EstimatorInfo
from chalicelib.scoring import matrix_order

if TYPE_CHECKING:
    import pandas as pd


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a DataFrame, for training data given as a frame and not a file."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    header = ",".join(map(str, frame.columns)).encode()
    return sha256_hex(header + hashed.tobytes())


def check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The user's metrics as numbers; InvalidInputError naming the one that is not."""
    checked = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"metric {key!r} must be a number, got {value!r}; "
                'pass metrics as JSON like {"auc": 0.91}'
            )
        checked[str(key)] = float(value)
    return checked


def describe_estimator(estimator: Any, frame: Any, features: Any) -> EstimatorInfo:
    """The estimator's class, its final step and how the pipeline hands that step its rows."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    described: EstimatorInfo = {
        "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "final_estimator": type(final).__name__,
    }
    order = matrix_order(estimator, frame, features)
    if order is not None:
        described["matrix_order"] = order
    return described
