"""Finding batch predictions by their ids, for ground truth that names them: which scored
files can hold an id, and which rows of a scored chunk do. Pure: manifests and DataFrames in.

A file's ids are made while it is scored (core.new_prediction_ids, one batch per chunk), so
its manifest's start and finish bound the times its ids carry: an id names a time, and only
the files scored around that time need to be read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import parse_iso

# How far an id's time may stray outside its file's start and finish: a file scored in parts
# has its ids and its manifest's times from the clocks of different Lambdas.
CLOCK_SLACK = timedelta(seconds=5)

# A prediction found in a scored file: (id, prediction, probabilities by class or None).
BatchPrediction = tuple[str, Any, dict[str, float] | None]


def could_hold(manifest: Mapping[str, Any], times: Collection[datetime]) -> bool:
    """Whether the scored file of a manifest can hold an id made at one of `times`: it was
    scored with ids, and one of the times falls between its start and finish."""
    if not manifest.get("prediction_id_column"):
        return False  # scored before batch predictions had ids
    try:
        first = parse_iso(str(manifest["started_at"])) - CLOCK_SLACK
        last = parse_iso(str(manifest["finished_at"])) + CLOCK_SLACK
    except (KeyError, ValueError):
        return False
    return any(first <= made <= last for made in times)


def labelled_rows(
    frame: Any, column: str, probas: Sequence[str], wanted: Collection[str]
) -> Iterator[BatchPrediction]:
    """The rows of a scored chunk whose id (in `column`) is wanted, as the HTTP capture gives
    them: the prediction, and the probabilities by class (from the `probas` columns,
    `proba_<class>`; None unless the row has them all)."""
    import numpy as np
    import pandas as pd

    hits = frame[frame[column].isin(wanted)]
    if not len(hits):
        return
    present = [p for p in probas if p in hits.columns]
    classes = [p.removeprefix("proba_") for p in present]
    matrix = hits[present].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    complete = len(present) == len(probas) and len(probas) > 0
    ids, predictions = hits[column].tolist(), hits["prediction"].tolist()
    for pid, prediction, row in zip(ids, predictions, matrix, strict=True):
        usable = complete and bool(np.isfinite(row).all())
        yield (
            str(pid),
            prediction,
            dict(zip(classes, row.tolist(), strict=True)) if usable else None,
        )
