"""Drift of live values against the training profile: PSI, Jensen–Shannon and Wasserstein.

`FeatureDrift` accumulates one feature's live values in chunks (counts and a few sums only, so
memory stays constant however many values it sees) and `measure()`s them against the feature's
reference profile (see `_profiling.py`). Its `state()` is those counts and sums as JSON, and
`merge()` adds another slice's: the bins are the reference's, fixed at registration, so the
states of separate slices of traffic add up to the state of all of it.

The thresholds and the verdict are in `_thresholds.py`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from chalicelib.stats._divergence import js_distance, psi
from chalicelib.stats._profiling import bin_index

NUMBER = "number"
BOOLEAN = "boolean"
CATEGORY = "category"
KINDS = (NUMBER, BOOLEAN, CATEGORY)
METRICS = ("psi", "js", "wasserstein")

# Categories: this many of the most common reference levels get their own bin; the rest pool
# into "other". Fewer bins keep PSI's sampling noise, about (bins - 1) / n, small.
CATEGORY_BINS = 19
MAX_NEW_CATEGORIES = 10
# Memory bound for counting levels unseen in training (an identifier-like column can have
# millions); once reached, further unseen levels still count in "other" but are not listed.
MAX_TRACKED_NEW_LEVELS = 10_000
MISSING_LABEL = "missing"
OTHER_LABEL = "other"


class FeatureDrift:
    """Live values of one feature, accumulated chunk by chunk, against its reference profile."""

    def __init__(self, name: str, profile: Mapping[str, Any], kind: str | None = None) -> None:
        self.name = name
        self.profile = profile
        self.kind = kind or str(profile.get("type") or NUMBER)
        if self.kind not in KINDS:
            raise ValueError(f"feature {name!r}: unknown kind {self.kind!r}")
        if (self.kind == CATEGORY) != ("level_counts" in profile):
            raise ValueError(f"feature {name!r}: a {self.kind} profile is needed")
        self._samples = 0
        self._missing = 0
        if self.kind == CATEGORY:
            self._init_categories(profile)
        elif self.kind == BOOLEAN:
            self._init_booleans(profile)
        else:
            self._init_numbers(profile)
        self._init_wasserstein(profile)

    # -- bins -------------------------------------------------------------------------------

    def _init_numbers(self, profile: Mapping[str, Any]) -> None:
        self._edges = [float(e) for e in profile.get("bin_edges") or []]
        counts = [int(c) for c in profile.get("bin_counts") or []]
        if not counts:  # no present value in training: one bin holds whatever comes now
            counts = [0]
        self._labels = _numeric_labels(self._edges, len(counts)) + [MISSING_LABEL]
        self._reference = counts + [int(profile.get("missing") or 0)]
        self._counts = np.zeros(len(counts), dtype=np.int64)

    def _init_booleans(self, profile: Mapping[str, Any]) -> None:
        # A 0/1 column's quantile bins usually collapse into one bin (most deciles are 0 or
        # 1), so booleans get their own false/true bins, rebuilt from the present count and
        # the mean (the share of true).
        rows = int(profile.get("rows") or 0)
        missing = int(profile.get("missing") or 0)
        present = rows - missing
        true = round(float(profile.get("mean") or 0.0) * present)
        self._labels = ["false", "true", MISSING_LABEL]
        self._reference = [present - true, true, missing]
        self._counts = np.zeros(2, dtype=np.int64)

    def _init_categories(self, profile: Mapping[str, Any]) -> None:
        levels = {str(k): int(v) for k, v in profile["level_counts"].items()}
        # Stable sort: ties keep the profile's order.
        ranked = sorted(levels.items(), key=lambda item: -item[1])
        kept = ranked[:CATEGORY_BINS]
        self._known = set(levels)
        self._bin_of = {level: i for i, (level, _) in enumerate(kept)}
        other = sum(c for _, c in ranked[CATEGORY_BINS:]) + int(profile.get("other_count") or 0)
        self._labels = [level for level, _ in kept] + [OTHER_LABEL, MISSING_LABEL]
        self._reference = [c for _, c in kept] + [other, int(profile.get("missing") or 0)]
        self._counts = np.zeros(len(kept) + 1, dtype=np.int64)
        self._new_levels: Counter[str] = Counter()

    def _init_wasserstein(self, profile: Mapping[str, Any]) -> None:
        quantiles = profile.get("quantiles") or []
        self._has_quantiles = self.kind != CATEGORY and len(quantiles) >= 2
        if not self._has_quantiles:
            return
        # Guard against floating-point wobble making the percentiles non-monotone.
        q = np.maximum.accumulate(np.asarray(quantiles, dtype=float))
        points, first = np.unique(q, return_index=True)
        last = np.append(first[1:] - 1, q.size - 1)
        steps = q.size - 1
        # Reference CDF at each distinct percentile value: just below it and at it. Repeated
        # percentiles (a zero-width bin) make a jump: a point mass at that value.
        self._points = points
        self._ref_below = first / steps
        self._ref_at = last / steps
        # Current values: exactly at a point, strictly between two points, or outside.
        self._at_point = np.zeros(points.size, dtype=np.int64)
        self._between = np.zeros(max(points.size - 1, 0), dtype=np.int64)
        # Per fine bin, the sum of (right point - x): makes the area under the current CDF
        # over the bin exact, whatever the values' spread inside it.
        self._between_gap = np.zeros(self._between.size, dtype=float)
        self._below = 0
        self._above = 0
        self._below_sum = 0.0  # sum of (q_0 - x) over x < q_0
        self._above_sum = 0.0  # sum of (x - q_100) over x > q_100

    # -- accumulation -----------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Values seen so far, missing ones included."""
        return self._samples

    def add(self, values: Iterable[Any]) -> None:
        """Count a chunk of raw values.

        None and NaN are missing; for numbers and booleans so are infinities and values that
        are not numeric (the strings "true"/"false" count as 1/0).
        """
        if not hasattr(values, "__len__"):
            values = list(values)
        if self.kind == CATEGORY:
            self._add_categories(values)
            return
        x = _as_floats(values)
        # Infinities cannot be binned meaningfully nor written to JSON: count them as missing.
        finite = np.isfinite(x)
        present = x[finite]
        self._samples += int(x.size)
        self._missing += int(x.size - present.size)
        if self.kind == BOOLEAN:
            true = int(np.count_nonzero(present >= 0.5))
            self._counts += np.array([present.size - true, true], dtype=np.int64)
        elif self._counts.size == 1:
            self._counts[0] += present.size
        else:
            self._counts += np.bincount(
                bin_index(self._edges, present), minlength=self._counts.size
            )
        if self._has_quantiles:
            self._add_fine(present)

    def _add_fine(self, x: np.ndarray) -> None:
        points = self._points
        left = np.searchsorted(points, x, side="left")  # points strictly below x
        right = np.searchsorted(points, x, side="right")  # points at or below x
        at = right > left
        self._at_point += np.bincount(left[at], minlength=points.size)
        below = (left == 0) & ~at
        above = left == points.size
        inside = ~(at | below | above)
        self._below += int(np.count_nonzero(below))
        self._above += int(np.count_nonzero(above))
        self._below_sum += float(np.sum(points[0] - x[below]))
        self._above_sum += float(np.sum(x[above] - points[-1]))
        if self._between.size:
            bins = left[inside] - 1
            self._between += np.bincount(bins, minlength=self._between.size)
            gaps = points[bins + 1] - x[inside]
            self._between_gap += np.bincount(bins, weights=gaps, minlength=self._between.size)

    def _add_categories(self, values: Iterable[Any]) -> None:
        seen = _count_values(values)
        other = 0
        chunk = 0
        for level, count in seen.items():
            chunk += count
            if level is None:
                self._missing += count
                continue
            index = self._bin_of.get(level)
            if index is not None:
                self._counts[index] += count
                continue
            other += count
            if level not in self._known and (
                level in self._new_levels or len(self._new_levels) < MAX_TRACKED_NEW_LEVELS
            ):
                self._new_levels[level] += count
        self._counts[-1] += other
        self._samples += chunk

    # -- state: slices of traffic that add up -----------------------------------------------

    def state(self) -> dict[str, Any]:
        """What was added so far, as JSON: counts on the reference bins and the sums behind
        the Wasserstein distance. Meaningful only against the same reference profile."""
        state: dict[str, Any] = {
            "samples": self._samples,
            "missing": self._missing,
            "counts": self._counts.tolist(),
        }
        if self.kind == CATEGORY:
            state["new_levels"] = dict(self._new_levels)
        if self._has_quantiles:
            state["fine"] = {
                "at_point": self._at_point.tolist(),
                "between": self._between.tolist(),
                "between_gap": self._between_gap.tolist(),
                "below": self._below,
                "above": self._above,
                "below_sum": self._below_sum,
                "above_sum": self._above_sum,
            }
        return state

    def merge(self, state: Mapping[str, Any]) -> None:
        """Add the `state()` of another slice of traffic measured against the same profile."""
        counts = np.asarray(state["counts"], dtype=np.int64)
        if counts.shape != self._counts.shape:
            raise ValueError(f"feature {self.name!r}: the state has other bins than the profile")
        self._samples += int(state["samples"])
        self._missing += int(state["missing"])
        self._counts += counts
        for level, count in (state.get("new_levels") or {}).items():
            if level in self._new_levels or len(self._new_levels) < MAX_TRACKED_NEW_LEVELS:
                self._new_levels[level] += int(count)
        fine = state.get("fine")
        if self._has_quantiles and fine:
            self._at_point += np.asarray(fine["at_point"], dtype=np.int64)
            self._between += np.asarray(fine["between"], dtype=np.int64)
            self._between_gap += np.asarray(fine["between_gap"], dtype=float)
            self._below += int(fine["below"])
            self._above += int(fine["above"])
            self._below_sum += float(fine["below_sum"])
            self._above_sum += float(fine["above_sum"])

    # -- measurement ------------------------------------------------------------------------

    def measure(self) -> dict[str, Any]:
        """Metrics, bins and missing rates of what was added so far."""
        current = [int(c) for c in self._counts] + [self._missing]
        reference_rows = sum(self._reference)
        enough = self._samples > 0
        measured: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "samples": self._samples,
            "missing_rate": self._missing / self._samples if enough else None,
            "reference_missing_rate": float(self.profile.get("missing_rate") or 0.0),
            "psi": psi(self._reference, current) if enough else None,
            "js": js_distance(self._reference, current) if enough else None,
            "wasserstein": self._wasserstein() if enough else None,
            "bins": {
                "labels": list(self._labels),
                "reference": _shares(self._reference, reference_rows),
                "current": _shares(current, self._samples),
            },
        }
        if self.kind == CATEGORY:
            measured["new_categories"] = dict(self._new_levels.most_common(MAX_NEW_CATEGORIES))
        return measured

    def _wasserstein(self) -> float | None:
        """W1 between the reference and current present values, in reference stds."""
        if not self._has_quantiles:
            return None
        n = self._below + self._above + int(self._at_point.sum()) + int(self._between.sum())
        if n == 0:
            return None
        # Outside the reference range the reference CDF is 0 (below) or 1 (above), so the
        # area between the CDFs there is exactly the mean distance to the range.
        total = (self._below_sum + self._above_sum) / n
        if self._between.size:
            # Current CDF just below each point and at it.
            before = self._below + np.concatenate(
                ([0], np.cumsum(self._at_point[:-1] + self._between))
            )
            cur_below = before / n
            cur_at = (before + self._at_point) / n
            width = np.diff(self._points)
            # The CDFs differ by d0 just after a bin's left point and by d1 just before its
            # right point. Inside, the reference CDF is linear between its percentiles.
            d0 = self._ref_at[:-1] - cur_at[:-1]
            d1 = self._ref_below[1:] - cur_below[1:]
            # Signed area between the CDFs, exact for the current one: the integral of F over
            # (a, b] is F(a) (b - a) + sum of (b - x) over the x inside, / n.
            reference_area = width * (self._ref_at[:-1] + self._ref_below[1:]) / 2
            current_area = width * cur_at[:-1] + self._between_gap / n
            signed = reference_area - current_area
            # When the CDFs cross inside the bin the signed area undercounts; take the
            # current CDF as linear there too: two triangles meeting where they cross.
            a0, a1 = np.abs(d0), np.abs(d1)
            spread = np.where(a0 + a1 > 0, a0 + a1, 1.0)
            crossing = width * (d0 * d0 + d1 * d1) / (2 * spread)
            area = np.where(d0 * d1 >= 0, np.abs(signed), crossing)
            total += float(np.sum(area))
        return total / self._scale()

    def _scale(self) -> float:
        std = self.profile.get("std")
        if std:
            return float(std)
        # A constant training column has no spread to measure against: use its magnitude.
        return max(abs(float(self.profile.get("mean") or 0.0)), 1.0)


# -- helpers --------------------------------------------------------------------------------


def _as_floats(values: Any) -> np.ndarray:
    """Values as a float array; None and anything not numeric become NaN (missing)."""
    try:
        return np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        pass
    # Rare slow path (a stray string or pandas.NA among numbers): convert one by one.
    return np.array([_to_float(v) for v in values], dtype=float)


def _to_float(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return 1.0 if text == "true" else 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _count_values(values: Iterable[Any]) -> Counter[str | None]:
    """Counts of str(value) per category level, missing values under None."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    try:
        # Key by type too: 1, 1.0 and True are equal as dict keys but "1", "1.0", "True" as
        # levels, the way profiling compares them.
        raw: Counter[Any] = Counter(zip(map(type, items), items, strict=True))
    except TypeError:  # unhashable values: fall back to their text
        raw = Counter((str, None if _is_missing(v) else str(v)) for v in items)
    # One pass over the distinct values only, so a chunk of repeats costs little.
    levels: Counter[str | None] = Counter()
    for (_, value), count in raw.items():
        levels[None if _is_missing(value) else str(value)] += count
    return levels


def _is_missing(value: Any) -> bool:
    # What pandas' dropna drops, without importing pandas: None, NaN, pandas.NA and NaT.
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return type(value).__name__ in ("NAType", "NaTType")


def _shares(counts: list[int], total: int) -> list[float]:
    return [c / total if total else 0.0 for c in counts]


def _numeric_labels(edges: list[float], n_bins: int) -> list[str]:
    """'< a', 'a – b', ..., '≥ z' for bins cut at the inner edges."""
    if n_bins == 1:
        return ["all values"]
    inner = _compact(edges[1:-1])
    return (
        [f"< {inner[0]}"]
        + [f"{low} – {high}" for low, high in zip(inner, inner[1:], strict=False)]
        + [f"≥ {inner[-1]}"]
    )


def _compact(numbers: list[float]) -> list[str]:
    """Numbers with 4 significant digits, or more when needed to tell them apart."""
    for digits in range(4, 18):
        texts = [f"{x:.{digits}g}" for x in numbers]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(x) for x in numbers]
