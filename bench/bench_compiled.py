"""Per-call latency of scoring one record: pandas pipeline vs estimator alone vs compiled path.

Run from the repository root: `python bench/bench_compiled.py [--calls 2000] [--rounds 10]`.
For each reference pipeline (trained on 5000 rows) it times, warm and in one process:

- naive: dict -> pandas.DataFrame -> pipeline.predict_proba
- estimator-only: final estimator predict_proba on an already transformed 1-row ndarray
- compiled: CompiledModel.predict_proba(records), plus its transform alone for reference

Variants run in interleaved rounds so that machine noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.scoring import compile_model
from sklambda.sample_data import FEATURES, churn_frame, trained_reference_model  # noqa: E402

WARMUP_CALLS = 200
PAYLOADS = 64  # distinct records, cycled, so no variant scores the same row over and over


def main() -> None:
    """Parse arguments, run the benchmark for both reference pipelines, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per variant")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--records", type=int, default=1, help="records per call")
    parser.add_argument(
        "--omp-threads", type=int, default=None, help="cap OpenMP threads (HGB predicts with them)"
    )
    args = parser.parse_args()
    if args.omp_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.omp_threads, user_api="openmp")

    print(_environment(args.omp_threads))
    print(
        f"{args.calls} timed calls per variant in {args.rounds} interleaved rounds, "
        f"{args.records} record(s) per call, after {WARMUP_CALLS} warm-up calls\n"
    )
    rows: list[tuple[str, str, np.ndarray]] = []
    for kind in ("hgb", "logreg"):
        timings = _measure(_variants(kind, args.records), args.calls, args.rounds)
        rows += [(kind, name, ns) for name, ns in timings.items()]
    _print_table(rows)


def _variants(kind: str, n_records: int) -> dict[str, Callable[[int], Any]]:
    """The callables to time for one reference pipeline; each takes a payload index."""
    import pandas as pd

    model, _ = trained_reference_model(kind, n_rows=5000)
    compiled = compile_model(model)
    if compiled is None:
        raise SystemExit(f"{kind}: the reference pipeline did not compile")
    payloads = _payloads(n_records)
    preprocess, estimator = model[:-1], model[-1]
    matrices = [preprocess.transform(pd.DataFrame(p, columns=FEATURES)) for p in payloads]
    _check_agreement(compiled, estimator, payloads, matrices)

    def naive(i: int) -> Any:
        return model.predict_proba(pd.DataFrame(payloads[i], columns=FEATURES))

    return {
        "naive (pandas)": naive,
        "estimator-only": lambda i: estimator.predict_proba(matrices[i]),
        "compiled": lambda i: compiled.predict_proba(payloads[i]),
        "compiled transform": lambda i: compiled.transform(payloads[i]),
    }


def _payloads(n_records: int) -> list[list[dict[str, Any]]]:
    """Request bodies as the HTTP layer decodes them: JSON, so missing values are null."""
    frame = churn_frame(PAYLOADS * n_records, seed=7, with_target=False)[FEATURES]
    records = json.loads(frame.astype(object).where(frame.notna(), None).to_json(orient="records"))
    return [records[i * n_records : (i + 1) * n_records] for i in range(PAYLOADS)]


def _check_agreement(
    compiled: Any, estimator: Any, payloads: list[Any], matrices: list[Any]
) -> None:
    """Refuse to time paths that disagree: same matrix, same probabilities."""
    for records, matrix in zip(payloads, matrices, strict=True):
        # Missing categories differ by design (None there, NaN here): compare probabilities
        # only where the records carry no null.
        if any(v is None for record in records for v in record.values()):
            continue
        if not np.allclose(compiled.transform(records), matrix):
            raise SystemExit("compiled transform disagrees with the pipeline")
        if not np.allclose(compiled.predict_proba(records), estimator.predict_proba(matrix)):
            raise SystemExit("compiled predict_proba disagrees with the pipeline")


def _measure(
    variants: dict[str, Callable[[int], Any]], calls: int, rounds: int
) -> dict[str, np.ndarray]:
    """Per-call nanoseconds for each variant, timed in interleaved rounds after a warm-up."""
    for fn in variants.values():
        for i in range(WARMUP_CALLS):
            fn(i % PAYLOADS)
    per_round = max(1, calls // rounds)
    samples: dict[str, list[int]] = {name: [] for name in variants}
    clock = time.perf_counter_ns
    for r in range(rounds):
        # Rotate the order each round so no variant always follows the same one.
        names = list(variants)
        names = names[r % len(names) :] + names[: r % len(names)]
        for name in names:
            fn, out = variants[name], samples[name]
            for i in range(per_round):
                start = clock()
                fn(i % PAYLOADS)
                out.append(clock() - start)
    return {name: np.asarray(ns, dtype=np.float64) for name, ns in samples.items()}


def _print_table(rows: list[tuple[str, str, np.ndarray]]) -> None:
    """One line per (model, variant): median and p99 in microseconds, ratios to estimator."""
    header = (
        f"{'model':<7} {'variant':<19} {'median µs':>10} {'p99 µs':>10} "
        f"{'median ×est':>12} {'p99 ×est':>9}"
    )
    print(header)
    print("-" * len(header))
    for kind, name, ns in rows:
        base = next(r[2] for r in rows if r[0] == kind and r[1] == "estimator-only")
        median, p99 = np.median(ns) / 1e3, np.percentile(ns, 99) / 1e3
        ratio_median = np.median(ns) / np.median(base)
        ratio_p99 = np.percentile(ns, 99) / np.percentile(base, 99)
        print(
            f"{kind:<7} {name:<19} {median:>10.1f} {p99:>10.1f} "
            f"{ratio_median:>11.2f}× {ratio_p99:>8.2f}×"
        )


def _environment(omp_threads: int | None) -> str:
    import pandas
    import sklearn

    threads = omp_threads or os.environ.get("OMP_NUM_THREADS", "default")
    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas "
        f"{pandas.__version__}, scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, "
        f"OpenMP threads: {threads}"
    )


if __name__ == "__main__":
    main()
