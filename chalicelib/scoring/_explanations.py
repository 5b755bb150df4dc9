"""Explanations as users read them: a JSON object per record (HTTP, capture) and one column
per feature (scored batch files), from a plan's exact contributions.

One output (a regressed value, or a binary classifier's positive class) reads
`{"scale", "class"?, "base", "value", "contributions": {feature: contribution}}`, where
base + the contributions = value, the model's raw output on that scale. A multiclass model
gives the same per class: `{"scale", "classes": {class: {"base", "value", "contributions"}}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

CONTRIBUTION_PREFIX = "contrib_"


def explanation_records(explained: Any) -> list[dict[str, Any]]:
    """One JSON-ready object per record of a `PlanExplanation`."""
    features = list(explained.features)
    outputs = list(explained.outputs)
    base = explained.base.tolist()
    raw = explained.raw.tolist()
    contributions = explained.contributions.tolist()  # (rows, features, outputs)
    records: list[dict[str, Any]] = []
    for row, values in zip(contributions, raw, strict=True):
        per_output = [
            {
                "base": base[k],
                "value": values[k],
                "contributions": {f: c[k] for f, c in zip(features, row, strict=True)},
            }
            for k in range(len(outputs))
        ]
        record: dict[str, Any] = {"scale": explained.scale}
        if len(outputs) == 1:
            if outputs[0] is not None:
                record["class"] = outputs[0]
            record.update(per_output[0])
        else:
            record["classes"] = {str(c): o for c, o in zip(outputs, per_output, strict=True)}
        records.append(record)
    return records


def explanation_columns(explained: Any) -> dict[str, np.ndarray]:
    """`contrib_<feature>` per feature, then `contrib_base` (per class, `contrib_<feature>_<class>`
    and `contrib_base_<class>`, for a multiclass model): each row's columns add up to the
    model's raw output."""
    names = contribution_names(explained.features, explained.outputs)
    rows, n_features, n_outputs = explained.contributions.shape
    values = [
        column
        for k in range(n_outputs)
        for column in (
            *(explained.contributions[:, j, k] for j in range(n_features)),
            np.full(rows, explained.base[k]),
        )
    ]
    return dict(zip(names, values, strict=True))


def contribution_names(features: Sequence[str], outputs: Sequence[Any]) -> list[str]:
    """The contribution columns of a scored file, in order (also when no row was scored).
    The base is `contrib_base`, or `contrib__base` where a feature is named "base"."""
    base = "_base" if "base" in features else "base"
    names = []
    for output in outputs:
        suffix = "" if len(outputs) == 1 else f"_{output}"
        names += [f"{CONTRIBUTION_PREFIX}{feature}{suffix}" for feature in (*features, base)]
    return names
