"""A candidate version measured against a baseline on the same rows, in one run: single-record
latency (p50, p99), batch throughput and peak memory, and the ratios candidate/baseline.

Each measure goes through the path the API takes (the version's validator, then its scorer),
and the two versions alternate per repeat (A then B, then B then A) so that noise on the
machine hits both. Memory is tracemalloc's peak while one batch is validated and scored:
Python and numpy allocations, not the version's already-loaded model. Pure: no AWS here.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core import InvalidInputError

if TYPE_CHECKING:
    from chalicelib.scoring._scorer import Scorer

BENCHMARK_FORMAT = 1
# Small and bounded: a retrain in Lambda measures both versions in a few seconds.
SINGLE_RECORDS = 200
BATCHES = 5
BATCH_ROWS = 1000
MEMORY = "tracemalloc peak of one batch validated and scored (Python and numpy allocations)"


@dataclass(frozen=True)
class Figures:
    """One version's measures."""

    p50_ms: float
    p99_ms: float
    records_per_s: float
    peak_mib: float

    def to_dict(self) -> dict[str, float]:
        return {
            "p50_ms": round(self.p50_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
            "records_per_s": round(self.records_per_s, 1),
            "peak_mib": round(self.peak_mib, 3),
        }


@dataclass(frozen=True)
class Benchmark:
    """Candidate and baseline measured in one run on the same rows."""

    candidate: Figures
    baseline: Figures
    rows: int  # distinct rows measured
    singles: int  # single-record requests per version
    batches: int
    batch_rows: int

    @property
    def ratios(self) -> dict[str, float | None]:
        """candidate / baseline of each measure (None when the baseline's is zero)."""
        ours, theirs = self.candidate.to_dict(), self.baseline.to_dict()
        return {k: round(ours[k] / theirs[k], 3) if theirs[k] else None for k in ours}

    def to_dict(self, *, version: int, against_version: int, at: str, rows_from: str) -> Any:
        """The stored form: the candidate's figures at the top, the baseline's beside them."""
        return {
            "format": BENCHMARK_FORMAT,
            "version": version,
            "against_version": against_version,
            "at": at,
            "rows": self.rows,
            "rows_from": rows_from,
            "single_records": self.singles,
            "batches": self.batches,
            "batch_rows": self.batch_rows,
            "memory": MEMORY,
            **self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "ratios": self.ratios,
        }


def measure(
    candidate: Scorer,
    baseline: Scorer,
    records: Sequence[Mapping[str, Any]],
    *,
    singles: int = SINGLE_RECORDS,
    batches: int = BATCHES,
    batch_rows: int = BATCH_ROWS,
    unknown_categories: str = "warn",
) -> Benchmark:
    """Measure both versions on `records` (as a client sends them: JSON values)."""
    if not records:
        raise InvalidInputError("no rows to measure the versions on")
    if singles < 1 or batches < 1 or batch_rows < 1:
        raise InvalidInputError("single records, batches and batch rows must each be ≥ 1")
    paths = [_path(candidate, unknown_categories), _path(baseline, unknown_categories)]
    for score in paths:  # warm: plans and compiled paths are built on first use
        score(records[:1])
    latencies: list[list[float]] = [[], []]
    for i in range(singles):
        record = [records[i % len(records)]]
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            paths[which](record)
            latencies[which].append((time.perf_counter() - start) * 1000.0)
    batch = [records[i % len(records)] for i in range(batch_rows)]
    seconds: list[float] = [0.0, 0.0]
    for i in range(batches):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            paths[which](batch)
            seconds[which] += time.perf_counter() - start
    peaks = [_peak_mib(score, batch) for score in paths]
    figures = [
        Figures(
            p50_ms=statistics.median(latencies[w]),
            p99_ms=percentile(latencies[w], 0.99),
            records_per_s=batches * batch_rows / seconds[w] if seconds[w] else 0.0,
            peak_mib=peaks[w],
        )
        for w in (0, 1)
    ]
    return Benchmark(
        figures[0], figures[1], min(len(records), batch_rows), singles, batches, batch_rows
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def json_records(frame: Any, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of a pandas frame as a client would send them: JSON values (a
    missing value as null, a time as ISO text)."""
    records: list[dict[str, Any]] = json.loads(
        frame.head(limit).to_json(orient="records", date_format="iso")
    )
    return records


def _path(scorer: Scorer, unknown_categories: str) -> Any:
    validator = scorer.validator(unknown_categories)

    def score(records: Sequence[Mapping[str, Any]]) -> None:
        scorer.score(validator.validate(records).rows)

    return score


def _peak_mib(score: Any, batch: Sequence[Mapping[str, Any]]) -> float:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        score(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    return max(0, peak - before) / (1024 * 1024)
