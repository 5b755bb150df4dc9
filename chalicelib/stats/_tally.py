"""Model quality as sufficient statistics: per-slice tallies that add up.

The monitor joins predictions with ground truth hour by hour; keeping every joined pair to
compute :func:`~chalicelib.stats._quality.quality` over a version's life would grow without
bound. A :class:`QualityTally` keeps what the metrics need instead, as a small JSON state, and
the states of separate slices merge into the tally of their union.

Everything but ROC AUC is exact (up to float rounding): confusion counts, exact running sums
of log-loss terms and errors, and Chan's parallel update of the actuals' mean and spread.
ROC AUC is computed from score histograms on fixed bins, counting pairs within a bin as half
a concordant pair; the result states the worst case of that (``error_bounds``).

Pure: no AWS, no scikit-learn, no numpy. The per-row rules (class matching, numbers,
renormalised probabilities) are the ones :func:`quality` uses, imported from it.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import cache
from typing import Any

from chalicelib.stats._quality import (
    CLASSIFICATION,
    DIGITS,
    REGRESSION,
    averaged_labels,
    check_task,
    class_index,
    class_key,
    finite_number,
    predicted_index,
    probability_keys,
    probability_row,
    rounded,
)

# Score bins for ROC AUC. A confident model puts most of its scores within a hair of 0 and 1,
# where bins uniform in probability would lump them all together; bins uniform on the logit
# scale log(p / (1 - p)) are as fine in relative terms near 0.0001 or 0.9999 as near 0.5.
# Width 0.01 is a 0.25% step in probability at 0.5 and a 1% relative step in p (or 1 - p) in
# the tails; the worst-case error it leaves is about width/2 times the overlap of the two
# classes' score densities on the logit scale, under 0.001 for 20,000 logistic scores (see the
# tests). The span ±30 reaches p ≈ 1e-13 and 1 - 1e-13; beyond that float64 runs out of
# room below 1, so the rest goes to one open bin at each end. Exact 0 and 1 (a tree's or
# a clipped model's output) have bins of their own: all their scores tie, as they do in
# scikit-learn, so they add nothing to the error. A state names its bins; others do not merge.
_LOGIT_WIDTH = 0.01
_LOGIT_SPAN = 30
BINS = f"logit/{_LOGIT_WIDTH}/{_LOGIT_SPAN}"
_STEPS = round(2 * _LOGIT_SPAN / _LOGIT_WIDTH)
_ZERO_BIN = 0
_ONE_BIN = _STEPS + 3  # 1: (0, edge 0); j + 1: [edge j - 1, edge j); _STEPS + 2: [last edge, 1)

# scikit-learn's log_loss clips probabilities to [eps, 1 - eps] of their float type.
_EPS = sys.float_info.epsilon


@cache
def _edges() -> list[float]:
    return [1 / (1 + math.exp(_LOGIT_SPAN - j * _LOGIT_WIDTH)) for j in range(_STEPS + 1)]


def score_bin(p: float) -> int:
    """The histogram bin of a probability in [0, 1]; bins are in the order of their scores."""
    if p <= 0:
        return _ZERO_BIN
    if p >= 1:
        return _ONE_BIN
    return bisect_right(_edges(), p) + 1


class QualityTally:
    """Sufficient statistics of one version's labelled predictions; slices add up."""

    task: str

    @classmethod
    def for_model(cls, task: str, classes: Sequence[Any] | None) -> QualityTally:
        """An empty tally for a model of ``task`` (and ``classes``, for a classifier)."""
        check_task(task, classes)
        if task == REGRESSION:
            return _RegressionTally()
        return _ClassificationTally([class_key(c) for c in classes or ()], classes)

    def add(self, actual: Any, prediction: Any, probabilities: Mapping[str, float] | None) -> None:
        """Count one prediction joined with its ground truth."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The statistics as a compact JSON-serialisable document."""
        raise NotImplementedError

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add another tally's :meth:`state`; raises if it is not of the same model shape."""
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        """The quality of everything counted, shaped like :func:`quality`'s result."""
        raise NotImplementedError


class _ClassificationTally(QualityTally):
    task = CLASSIFICATION

    def __init__(self, keys: list[str], classes: Sequence[Any] | None = None) -> None:
        self._keys = keys
        self._index = class_index(keys if classes is None else classes)
        self._probability_keys = probability_keys(keys if classes is None else classes)
        k = len(keys)
        # Predictions outside the classes go to the extra last column: always wrong.
        self.confusion = [[0] * (k + 1) for _ in range(k)]
        self.unknown_actuals = 0
        self.without_probabilities = 0
        self.log_loss = _ExactSum()
        # Binary ROC AUC scores the positive class only; one-vs-rest scores every class.
        self._scored = [1] if k == 2 else list(range(k))
        self.positive: list[dict[int, int]] = [{} for _ in self._scored]
        self.negative: list[dict[int, int]] = [{} for _ in self._scored]

    def add(self, actual: Any, prediction: Any, probabilities: Mapping[str, float] | None) -> None:
        true = self._index.get(class_key(actual))
        if true is None:
            self.unknown_actuals += 1
            return
        predicted = predicted_index(self._index, prediction)
        self.confusion[true][predicted if predicted >= 0 else len(self._keys)] += 1
        row = probability_row(probabilities, self._probability_keys)
        if row is None:
            self.without_probabilities += 1
            return
        self.log_loss.add(-math.log(min(max(row[true], _EPS), 1 - _EPS)))
        for slot, c in enumerate(self._scored):
            counts = self.positive[slot] if true == c else self.negative[slot]
            b = score_bin(row[c])
            counts[b] = counts.get(b, 0) + 1

    def state(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "classes": list(self._keys),
            "bins": BINS,
            "confusion": [list(row) for row in self.confusion],
            "unknown_actuals": self.unknown_actuals,
            "without_probabilities": self.without_probabilities,
            "log_loss": self.log_loss.state(),
            "scores": [
                {"positive": _sparse(pos), "negative": _sparse(neg)}
                for pos, neg in zip(self.positive, self.negative, strict=True)
            ],
        }

    def merge(self, state: Mapping[str, Any]) -> None:
        other = self._parse(state)  # fully checked before anything here changes
        for mine, theirs in zip(self.confusion, other.confusion, strict=True):
            for i, count in enumerate(theirs):
                mine[i] += count
        self.unknown_actuals += other.unknown_actuals
        self.without_probabilities += other.without_probabilities
        self.log_loss.merge(other.log_loss)
        for mine_hists, their_hists in (
            (self.positive, other.positive),
            (self.negative, other.negative),
        ):
            for mine_counts, their_counts in zip(mine_hists, their_hists, strict=True):
                for b, count in their_counts.items():
                    mine_counts[b] = mine_counts.get(b, 0) + count

    def _parse(self, state: Mapping[str, Any]) -> _ClassificationTally:
        _check_shape(state, self.task)
        if list(state["classes"]) != self._keys:
            raise ValueError(f"a tally of classes {state['classes']!r}, not {self._keys!r}")
        other = _ClassificationTally(list(self._keys))
        k = len(self._keys)
        confusion = state["confusion"]
        if len(confusion) != k or any(len(row) != k + 1 for row in confusion):
            raise ValueError(f"a confusion matrix that is not {k} x {k + 1}")
        other.confusion = [[_count(c) for c in row] for row in confusion]
        other.unknown_actuals = _count(state["unknown_actuals"])
        other.without_probabilities = _count(state["without_probabilities"])
        other.log_loss = _ExactSum.parse(state["log_loss"])
        scores = state["scores"]
        if len(scores) != len(self._scored):
            raise ValueError(f"scores of {len(scores)} classes, not {len(self._scored)}")
        other.positive = [_dense(s["positive"]) for s in scores]
        other.negative = [_dense(s["negative"]) for s in scores]
        return other

    def result(self) -> dict[str, Any]:
        k = len(self._keys)
        actual_counts = [sum(row) for row in self.confusion]
        labelled = sum(actual_counts)
        result: dict[str, Any] = {"labelled": labelled, "metrics": {}}
        if self.unknown_actuals:
            result["unknown_actuals"] = self.unknown_actuals
        if not labelled:
            return result

        predicted_counts = [sum(row[j] for row in self.confusion) for j in range(k)]
        hits = [self.confusion[i][i] for i in range(k)]
        present = {i for i in range(k) if actual_counts[i] or predicted_counts[i]}
        labels = averaged_labels(k, present)
        metrics: dict[str, Any] = {
            "accuracy": sum(hits) / labelled,
            "precision": _mean([_share(hits[i], predicted_counts[i]) for i in labels]),
            "recall": _mean([_share(hits[i], actual_counts[i]) for i in labels]),
        }
        bounds: dict[str, float] = {}
        if not self.without_probabilities and k >= 2:
            actuals_present = [i for i in range(k) if actual_counts[i]]
            if len(actuals_present) >= 2:
                slots = [self._scored.index(c) for c in actuals_present if c in self._scored]
                aucs = [_roc_auc(self.positive[s], self.negative[s]) for s in slots]
                metrics["roc_auc"] = _mean([auc for auc, _ in aucs])
                bounds["roc_auc"] = _round_up(sum((b for _, b in aucs), Fraction()) / len(aucs))
            metrics["log_loss"] = self.log_loss.value() / labelled
        result["metrics"] = rounded(metrics)
        if bounds:
            result["error_bounds"] = bounds
        return result


class _RegressionTally(QualityTally):
    task = REGRESSION

    def __init__(self) -> None:
        self.labelled = 0
        self.unusable_actuals = 0
        self.unusable_predictions = 0
        self.absolute_error = _ExactSum()
        self.squared_error = _ExactSum()  # also R²'s residual sum of squares
        # The actuals' mean and sum of squared deviations, for R²'s total sum of squares.
        self.mean = 0.0
        self.m2 = 0.0
        self.low = math.inf
        self.high = -math.inf

    def add(self, actual: Any, prediction: Any, probabilities: Mapping[str, float] | None) -> None:
        true, predicted = finite_number(actual), finite_number(prediction)
        if true is None:
            self.unusable_actuals += 1
            return
        if predicted is None:
            self.unusable_predictions += 1
            return
        error = predicted - true
        self.absolute_error.add(abs(error))
        self.squared_error.add(error * error)
        self.labelled += 1
        delta = true - self.mean  # Welford's update
        self.mean += delta / self.labelled
        self.m2 += delta * (true - self.mean)
        self.low = min(self.low, true)
        self.high = max(self.high, true)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "task": self.task,
            "labelled": self.labelled,
            "unusable_actuals": self.unusable_actuals,
            "unusable_predictions": self.unusable_predictions,
            "absolute_error": self.absolute_error.state(),
            "squared_error": self.squared_error.state(),
            "mean": self.mean,
            "m2": self.m2,
        }
        if self.labelled:  # JSON has no infinities
            state.update(low=self.low, high=self.high)
        return state

    def merge(self, state: Mapping[str, Any]) -> None:
        _check_shape(state, self.task)
        labelled = _count(state["labelled"])
        unusable_actuals = _count(state["unusable_actuals"])
        unusable_predictions = _count(state["unusable_predictions"])
        absolute_error = _ExactSum.parse(state["absolute_error"])
        squared_error = _ExactSum.parse(state["squared_error"])
        mean, m2 = _float(state["mean"]), _float(state["m2"])
        low, high = (_float(state["low"]), _float(state["high"])) if labelled else (0.0, 0.0)

        self.unusable_actuals += unusable_actuals
        self.unusable_predictions += unusable_predictions
        if not labelled:
            return
        self.absolute_error.merge(absolute_error)
        self.squared_error.merge(squared_error)
        total = self.labelled + labelled
        delta = mean - self.mean  # Chan et al.'s parallel update
        self.m2 += m2 + delta * delta * self.labelled * labelled / total
        self.mean += delta * labelled / total
        self.labelled = total
        self.low = min(self.low, low)
        self.high = max(self.high, high)

    def result(self) -> dict[str, Any]:
        n = self.labelled
        result: dict[str, Any] = {"labelled": n, "metrics": {}}
        if self.unusable_actuals:
            result["unusable_actuals"] = self.unusable_actuals
        if self.unusable_predictions:
            result["unusable_predictions"] = self.unusable_predictions
        if not n:
            return result
        residual = self.squared_error.value()
        metrics = {"mae": self.absolute_error.value() / n, "rmse": math.sqrt(residual / n)}
        if n >= 2 and self.high > self.low:
            if self.m2 > 0:
                metrics["r2"] = 1 - residual / self.m2
            else:  # actuals so close their spread underflows: scikit-learn's finite answer
                metrics["r2"] = 1.0 if residual == 0 else 0.0
        result["metrics"] = rounded(metrics)
        return result


class _ExactSum:
    """A float sum without rounding error: Shewchuk's non-overlapping partials (as math.fsum).

    Slices' sums then add up to the same value in any order, and to the correctly rounded
    total of all the terms.
    """

    def __init__(self, partials: list[float] | None = None) -> None:
        self.partials = partials or []

    def add(self, x: float) -> None:
        i = 0
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                self.partials[i] = low
                i += 1
            x = high
        self.partials[i:] = [x]

    def merge(self, other: _ExactSum) -> None:
        for x in other.partials:
            self.add(x)

    def value(self) -> float:
        return math.fsum(self.partials)

    def state(self) -> list[float]:
        return list(self.partials)

    @classmethod
    def parse(cls, state: Any) -> _ExactSum:
        if not isinstance(state, list):
            raise TypeError(f"an exact sum is a list of floats, not {type(state).__name__}")
        return cls([_float(x) for x in state])


def _roc_auc(positive: Mapping[int, int], negative: Mapping[int, int]) -> tuple[float, Fraction]:
    """ROC AUC from binned scores, pairs within a bin counted as half, and its worst-case error.

    Within a bin the true order of a positive and a negative is unknown: each such pair is
    off by at most half. The exact bins of 0 and 1 hold equal scores, which scikit-learn
    counts as half too, so they add no error.
    """
    p, n = sum(positive.values()), sum(negative.values())
    below = concordant2 = ties = 0  # concordant2: concordant pairs counted twice, ties once
    for b in sorted(positive.keys() | negative.keys()):
        pos, neg = positive.get(b, 0), negative.get(b, 0)
        concordant2 += pos * (2 * below + neg)
        if b not in (_ZERO_BIN, _ONE_BIN):
            ties += pos * neg
        below += neg
    return concordant2 / (2 * p * n), Fraction(ties, 2 * p * n)


def _round_up(bound: Fraction) -> float:
    scale = 10**DIGITS
    return -(-bound.numerator * scale // bound.denominator) / scale


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0  # scikit-learn's zero_division=0


def _sparse(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(b): counts[b] for b in sorted(counts)}


def _dense(state: Any) -> dict[int, int]:
    if not isinstance(state, Mapping):
        raise TypeError(f"a histogram is a mapping of bins to counts, not {type(state).__name__}")
    counts: dict[int, int] = {}
    for key, count in state.items():
        b = int(key)
        if not _ZERO_BIN <= b <= _ONE_BIN:
            raise ValueError(f"bin {key!r} outside {BINS}")
        counts[b] = _count(count)
    return counts


def _check_shape(state: Mapping[str, Any], task: str) -> None:
    if not isinstance(state, Mapping):
        raise TypeError(f"a tally state is a mapping, not {type(state).__name__}")
    if state["task"] != task:
        raise ValueError(f"a {state['task']!r} tally does not merge into a {task!r} one")
    if task == CLASSIFICATION and state["bins"] != BINS:
        raise ValueError(f"scores binned as {state['bins']!r}, not {BINS!r}")


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"a count is an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"negative count {value}")
    return value


def _float(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, not {value!r}")
    return float(value)
