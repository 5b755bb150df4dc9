"""What one monitor run saw of one model version: input and prediction distributions,
traffic by source, and the predictions that ground truth can be joined with.

Values go straight into histograms on the reference bins (`drift.FeatureDrift`), so a window
of millions of records costs the bins' memory, not the records'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from chalicelib.registry import VersionMetadata
from chalicelib.stats import (
    DATETIME,
    NUMBER,
    ConfidenceEstimate,
    FeatureDrift,
    datetime_seconds,
    predicted_confidence,
)

_FLUSH_RECORDS = 5000  # capture records buffered before they are binned (vectorised adds)


class VersionWindow:
    """Accumulates one version's traffic in the window against its reference profile."""

    def __init__(self, version: int, metadata: VersionMetadata, profile: Mapping[str, Any]):
        self.version = version
        self._reference = (metadata, profile)
        self.task: str = metadata.get("task") or "classification"
        self.classes: list[Any] = list(metadata.get("classes") or [])
        self.descriptions = list(metadata["features"])
        # Each feature's mean absolute contribution at register, when the version is explained:
        # the report ranks drifted features by how much they move the answers.
        explanations: Mapping[str, Any] = metadata.get("explanations") or {}
        self.importance: dict[str, float] = dict(explanations.get("importance") or {})
        self.feature_names = [f["name"] for f in self.descriptions]
        profiled = profile.get("features", {})
        # Times drift as numbers: seconds since the epoch, as their profile was built.
        self.times = {f["name"] for f in self.descriptions if f["type"] == DATETIME}
        self.features = {
            f["name"]: FeatureDrift(
                f["name"], profiled[f["name"]], NUMBER if f["name"] in self.times else f["type"]
            )
            for f in self.descriptions
            if f["name"] in profiled
        }
        self.prediction_kind, self.prediction = _prediction_drift(profile.get("predictions", {}))
        self.positive_class = (
            str(profile.get("predictions", {}).get("score", {}).get("positive_class"))
            if self.prediction_kind == "score"
            else None
        )
        # Accuracy to expect from the classifier's own probabilities (stats._estimation).
        self.estimate = ConfidenceEstimate() if self.task == "classification" else None
        self.traffic: Counter[str] = Counter()
        self._pending: list[Mapping[str, Any]] = []
        # Guardrail inputs: HTTP requests and server errors, and latency per request.
        self.requests = 0
        self.errors = 0
        self.latency = LatencyHistogram()
        self._last_request: Any = None
        # The same counts per consumer (the API key's name, or "-"): who is affected.
        self.consumers: dict[str, Counter[str]] = {}

    # -- HTTP capture ---------------------------------------------------------------------
    def add_capture(self, record: Mapping[str, Any]) -> None:
        """One captured HTTP record (binned in groups, for speed)."""
        name = str(record.get("consumer") or "-")
        consumer = self.consumers.get(name)
        if consumer is None:  # not setdefault: a Counter per record would cost 10 % of a run
            consumer = self.consumers[name] = Counter()
        if record.get("error"):
            self.errors += 1
            consumer["errors"] += 1
            return
        consumer["records"] += 1
        # A request's records are written together, so a new request id is a new request.
        request_id = record.get("request_id")
        if request_id != self._last_request or request_id is None:
            self._last_request = request_id
            self.requests += 1
            consumer["requests"] += 1
            latency = record.get("latency_ms")
            if isinstance(latency, int | float):
                self.latency.add(float(latency))
        self._pending.append(record)
        if len(self._pending) >= _FLUSH_RECORDS:
            self.flush()

    def flush(self) -> None:
        """Bin the buffered capture records."""
        records, self._pending = self._pending, []
        if not records:
            return
        import pandas as pd

        self.traffic["http"] += len(records)
        inputs = [r.get("inputs") or {} for r in records]
        numbers = [
            n for n, d in self.features.items() if d.kind != "category" and n not in self.times
        ]
        # Numbers: one C-level pass turns the inputs into float columns (absent = missing).
        # Categories keep their raw values, so levels compare as text the way profiling did.
        columns = pd.DataFrame.from_records(inputs, columns=numbers) if numbers else None
        for name, drift in self.features.items():
            if name in self.times:
                drift.add(datetime_seconds([row.get(name) for row in inputs]))
            elif columns is not None and name in columns:
                drift.add(columns[name].to_numpy())
            else:
                drift.add([row.get(name) for row in inputs])
        if self.prediction is not None:
            self.prediction.add(
                [
                    self.prediction_value(r.get("prediction"), r.get("probabilities"))
                    for r in records
                ]
            )
        if self.estimate is not None:
            self.estimate.add(
                predicted_confidence(r.get("prediction"), r.get("probabilities")) for r in records
            )

    def prediction_value(self, prediction: Any, probabilities: Mapping[str, float] | None) -> Any:
        """What the prediction profile describes: P(positive class), the label, or the value."""
        if self.prediction_kind == "score":
            return (probabilities or {}).get(str(self.positive_class))
        return prediction

    # -- batch files ----------------------------------------------------------------------
    def add_batch_inputs(self, frame: Any) -> None:
        """Rows of a batch input file (a DataFrame); missing columns count as missing."""
        rows = len(frame)
        if not rows:
            return
        self.traffic["batch"] += rows
        for name, drift in self.features.items():
            if name in self.times and name in frame.columns:
                drift.add(datetime_seconds(frame[name]))
            elif name in frame.columns:
                drift.add(frame[name].tolist())
            else:
                drift.add([None] * rows)

    def add_batch_predictions(self, frame: Any) -> None:
        """Rows of a scored batch file: `prediction` and `proba_<class>` columns."""
        if not len(frame):
            return
        if self.prediction is not None:
            kind = self.prediction_kind
            column = f"proba_{self.positive_class}" if kind == "score" else "prediction"
            if column in frame.columns:
                self.prediction.add(frame[column].tolist())
        if self.estimate is not None and "prediction" in frame.columns:
            self.estimate.add(_batch_confidences(frame, self.classes))

    # -- state: slices of traffic that add up ---------------------------------------------
    def fresh(self) -> VersionWindow:
        """An empty window of the same version and reference: for one slice of traffic."""
        return VersionWindow(self.version, *self._reference)

    def state(self) -> dict[str, Any]:
        """Everything accumulated so far, as JSON (see `merge`)."""
        self.flush()
        return {
            "traffic": dict(self.traffic),
            "requests": self.requests,
            "errors": self.errors,
            "consumers": {name: dict(counts) for name, counts in self.consumers.items()},
            "latency": self.latency.state(),
            "estimate": (
                {"total": self.estimate.total, "records": self.estimate.records}
                if self.estimate is not None
                else None
            ),
            "features": {name: drift.state() for name, drift in self.features.items()},
            "prediction": self.prediction.state() if self.prediction is not None else None,
        }

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add the `state()` of another slice of this version's traffic (another hour, or
        another capture object): the reference bins are fixed, so the slices add up."""
        self.flush()
        self.traffic.update({k: int(v) for k, v in state["traffic"].items()})
        self.requests += int(state["requests"])
        self.errors += int(state["errors"])
        for name, counts in (state.get("consumers") or {}).items():
            self.consumers.setdefault(name, Counter()).update(
                {key: int(value) for key, value in counts.items()}
            )
        self.latency.merge(state["latency"])
        estimate = state.get("estimate")
        if self.estimate is not None and estimate:
            self.estimate.merge(ConfidenceEstimate(estimate["total"], estimate["records"]))
        for name, feature in state["features"].items():
            if name in self.features:
                self.features[name].merge(feature)
        if self.prediction is not None and state.get("prediction"):
            self.prediction.merge(state["prediction"])

    # -- results --------------------------------------------------------------------------
    @property
    def samples(self) -> int:
        """Records seen in the window (HTTP and batch)."""
        return int(sum(self.traffic.values()))

    def measure(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Measured drift of each feature (signature order) and of the predictions."""
        self.flush()
        features = [self.features[n].measure() for n in self.feature_names if n in self.features]
        return features, (self.prediction.measure() if self.prediction is not None else None)


class LatencyHistogram:
    """Latencies in log-spaced bins (0.1 ms to 100 s, 2 % apart): percentiles in O(1) memory."""

    _LOW, _STEP, _BINS = 0.1, 1.02, 700

    def __init__(self) -> None:
        import numpy as np

        self._counts = np.zeros(self._BINS + 1, dtype=np.int64)

    def add(self, milliseconds: float) -> None:
        import math

        index = 0
        if milliseconds > self._LOW:
            index = int(math.log(milliseconds / self._LOW, self._STEP)) + 1
        self._counts[min(index, self._BINS)] += 1

    def state(self) -> dict[str, int]:
        """The non-empty bins, as {bin index: count} (JSON keys are text)."""
        return {str(i): int(c) for i, c in enumerate(self._counts.tolist()) if c}

    def merge(self, state: Mapping[str, int]) -> None:
        """Add another histogram's `state()`."""
        for index, count in state.items():
            self._counts[int(index)] += int(count)

    def percentile(self, share: float) -> float | None:
        """The latency under which `share` of requests fall (upper bin edge), None if empty."""
        import numpy as np

        total = int(self._counts.sum())
        if not total:
            return None
        index = int(np.searchsorted(np.cumsum(self._counts), share * total))
        return round(self._LOW * self._STEP**index, 3)


def _batch_confidences(frame: Any, classes: list[Any]) -> list[float | None]:
    """Each scored row's probability of its predicted class, from its `proba_<class>` column
    (labels compare as text: a CSV file gives them back as text)."""

    columns = {str(c): f"proba_{c}" for c in classes if f"proba_{c}" in frame.columns}
    if not columns:
        return []
    position = {label: i for i, label in enumerate(columns)}
    matrix = frame[list(columns.values())].to_numpy(dtype=float)
    picked = [position.get(str(label), -1) for label in frame["prediction"].tolist()]
    return [float(matrix[row, i]) if i >= 0 else None for row, i in enumerate(picked)]


def _prediction_drift(predictions: Mapping[str, Any]) -> tuple[str | None, FeatureDrift | None]:
    """Which prediction distribution the profile holds, as an accumulator."""
    for kind in ("score", "value", "label"):
        profile = predictions.get(kind)
        if profile:
            return kind, FeatureDrift(kind, profile)
    return None, None


def traffic_summary(traffic: Mapping[str, int]) -> dict[str, int]:
    """Traffic by source, with the total."""
    http, batch = int(traffic.get("http", 0)), int(traffic.get("batch", 0))
    return {"http": http, "batch": batch, "total": http + batch}
