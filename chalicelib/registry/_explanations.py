"""What registration records of a version's explanations: whether its plan explains it
exactly, and the global importance of each input feature on the reference sample.

The contributions are checked as the plan's answers are: on the reference rows, base plus
contributions must give the model's raw output (within the plan's 1e-9 bar), or the version
is registered without explanations and `describe` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chalicelib.registry._metadata import ExplanationInfo

# Reference rows explained at register for the importance: enough for a mean absolute
# contribution to settle (within a few percent), few enough that a 100-tree ensemble takes
# about half a second.
IMPORTANCE_ROWS = 1_000
_RTOL = 1e-9  # as the plan's proof


def explanation_facts(plan: Any, rows: Sequence[Mapping[str, Any]]) -> ExplanationInfo:
    """Explanations of a proven plan: available with each feature's importance, or why not."""
    from chalicelib.scoring.plans import Unexplainable

    reason = plan.explainable()
    if reason is not None:
        return unavailable(reason)
    sample = list(rows[:IMPORTANCE_ROWS])
    try:
        explained = plan.explain(sample)
    except (Unexplainable, ValueError) as refused:
        return unavailable(str(refused))
    off = _off_by(explained, plan.raw_output(sample))
    if off is not None:
        return unavailable(f"contributions do not add up to the model's output ({off})")
    mean_abs = np.abs(explained.contributions).mean(axis=(0, 2))
    return {
        "state": "available",
        "scale": explained.scale,
        "outputs": list(explained.outputs),
        "importance": dict(zip(explained.features, mean_abs.tolist(), strict=True)),
        "rows": len(sample),
    }


def unavailable(reason: str) -> ExplanationInfo:
    return {"state": "unavailable", "reason": reason}


def _off_by(explained: Any, raw: np.ndarray) -> str | None:
    """Why base + contributions is not the model's raw output, or None when it is."""
    total = explained.base[None, :] + explained.contributions.sum(axis=1)
    scale = np.maximum(np.abs(raw), 1.0)
    worst = float(np.max(np.abs(total - raw) / scale)) if raw.size else 0.0
    return None if worst <= _RTOL else f"off by up to {worst:.3g} relative"
