"""Retraining cost: time and peak memory of one retrain of the reference model, by data size.

    .venv/bin/python bench/bench_retrain.py [--rows 100000,500000,1000000] [--repeats 3]
        [--kind hgb|logreg] [--threads N]

Workload: the churn-like table (14 numeric, 6 categorical features, customer_id and the
`churned` label) as one CSV per size, written once into a temporary directory in blocks of
200,000 rows; the champion is the reference pipeline fitted on 5,000 other rows, dumped there
with joblib.

Every measured run is a fresh child process that loads the champion and imports everything
first, so its peak RSS (VmHWM from /proc/self/status: on Linux ru_maxrss carries the spawning
parent's peak across exec) is that run's alone. Two paths, alternating within each repeat:
  retrain    the steps of chalicelib/rollout/_retraining.py, done directly, each timed:
               read       pandas.read_csv of the local file
               fit        stratified 20 % holdout split (random_state=0), clone(champion).fit
               evaluate   champion and challenger: predict_proba on the holdout, accuracy,
                          ROC AUC and log loss (sklearn.metrics)
               serialize  joblib.dump to bytes, infer_signature and build_profile on the
                          training part (what the registry stores with the challenger)
  fit_alone  the baseline: a fresh reference pipeline's fit on the same training rows, the
             frame already in memory (read and split untimed)
The table gives median seconds over the repeats and the highest peak RSS; x_fit_alone is the
retrain's total over the baseline's fit. Not measured: the S3 download, the registry's writes,
the cold start. The projection fits seconds and peak RSS linearly against rows (least
squares) and solves for Lambda's limits (900 s, 10,240 MB); its time bound holds for this
machine's CPU, not Lambda's.

Threads: the runs get OMP_NUM_THREADS=1 unless --threads says otherwise (0: as inherited).
HGB's fit is OpenMP-parallel, and on a shared machine a busy core slows a 2-thread fit
several times over (libgomp's threads wait on each other), while one thread only loses its
share. One thread is also the conservative case for Lambda, which gives about one vCPU per
1,769 MB, up to 6 at 10,240 MB. The table notes the load average seen before the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BLOCK_ROWS = 200_000
CHAMPION_ROWS = 5000
CHAMPION_SEED = 1000
HOLDOUT = 0.2
LAMBDA_SECONDS = 15 * 60
LAMBDA_MEMORY_MIB = 10_240
STEPS = ["read", "fit", "evaluate", "serialize"]


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (VmHWM, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- children: one measured run each --------------------------------------------------------
def child_retrain(csv: Path, champion_path: Path) -> dict[str, Any]:
    """One retrain, step by step, after loading the champion and importing everything."""
    import io

    import joblib
    import pandas as pd
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    from chalicelib.stats import build_profile, infer_signature
    from sklambda.sample_data import FEATURES, TARGET

    champion = joblib.load(champion_path)
    warm = peak_rss_mib()
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    frame = pd.read_csv(csv)
    seconds["read"] = time.perf_counter() - started

    mark = time.perf_counter()
    train, holdout = train_test_split(
        frame, test_size=HOLDOUT, random_state=0, stratify=frame[TARGET]
    )
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    challenger = clone(champion).fit(train[FEATURES], train[TARGET])
    seconds["fit"] = time.perf_counter() - mark

    mark = time.perf_counter()
    metrics = {}
    for label, model in (("challenger", challenger), ("champion", champion)):
        proba = model.predict_proba(holdout[FEATURES])
        predicted = model.classes_[proba.argmax(axis=1)]
        actual = holdout[TARGET]
        metrics[label] = {
            "accuracy": float(accuracy_score(actual, predicted)),
            "roc_auc": float(roc_auc_score(actual, proba[:, 1])),
            "log_loss": float(log_loss(actual, proba, labels=model.classes_)),
        }
    seconds["evaluate"] = time.perf_counter() - mark

    mark = time.perf_counter()
    buffer = io.BytesIO()
    joblib.dump(challenger, buffer)
    artifact = buffer.getvalue()
    training = train[[*FEATURES, TARGET]]
    signature = infer_signature(challenger, training, TARGET)
    profile = build_profile(challenger, training, signature)
    seconds["serialize"] = time.perf_counter() - mark

    total = time.perf_counter() - started
    if profile["rows"] != len(train) or not all(
        np.isfinite(v) for m in metrics.values() for v in m.values()
    ):
        raise RuntimeError(f"retrain produced a bad profile or metrics: {metrics}")
    return {
        "seconds": total,
        "steps": seconds,
        "rows": len(frame),
        "artifact_mib": len(artifact) / 2**20,
        "metrics": metrics,
        "warm_rss_mib": warm,
    }


def child_fit_alone(csv: Path, kind: str) -> dict[str, Any]:
    """The baseline: a fresh pipeline's fit on the same training rows, already in memory."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from sklambda.sample_data import FEATURES, TARGET, reference_pipeline

    frame = pd.read_csv(csv)
    train, _ = train_test_split(frame, test_size=HOLDOUT, random_state=0, stratify=frame[TARGET])
    train = train.reset_index(drop=True)
    features, target = train[FEATURES], train[TARGET]
    pipeline = reference_pipeline(kind)  # type: ignore[arg-type]
    warm = peak_rss_mib()
    started = time.perf_counter()
    pipeline.fit(features, target)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "warm_rss_mib": warm}


def run_child(path: str, csv: Path, champion: Path, kind: str) -> None:
    """Child process entry: run one path, print its measures as the last stdout line."""
    measured = child_retrain(csv, champion) if path == "retrain" else child_fit_alone(csv, kind)
    measured["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(measured), flush=True)


# -- parent: data, runs, table --------------------------------------------------------------
def csv_file(directory: Path, rows: int) -> Path:
    """The labelled CSV of `rows` rows, generated in blocks so the generator stays small."""
    from sklambda.sample_data import churn_frame

    target = directory / f"churn-{rows}.csv"
    with target.open("w", newline="") as out:
        for i, start in enumerate(range(0, rows, BLOCK_ROWS)):
            block = churn_frame(min(BLOCK_ROWS, rows - start), seed=i)
            block.to_csv(out, header=i == 0, index=False)
    return target


def champion_file(directory: Path, kind: str) -> Path:
    """The champion: the reference pipeline fitted on other rows, dumped with joblib."""
    import joblib

    from sklambda.sample_data import trained_reference_model

    model, _ = trained_reference_model(kind, CHAMPION_ROWS, seed=CHAMPION_SEED)  # type: ignore[arg-type]
    target = directory / f"champion-{kind}.joblib"
    joblib.dump(model, target)
    return target


def measure(path: str, csv: Path, rows: int, champion: Path, kind: str) -> dict[str, Any]:
    """One fresh child process running `path` on the file of `rows` rows."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", path]
    command += ["--data", str(csv), "--champion", str(champion), "--kind", kind]
    load = os.getloadavg()[0]
    done = subprocess.run(
        command,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} at {rows} rows failed:\n{done.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["rows"] != rows:
        raise RuntimeError(f"{path} read {measured['rows']} of {rows} rows")
    measured["load_1m"] = load
    return measured


@dataclass
class Result:
    rows: int
    retrain: list[dict[str, Any]]
    fit_alone: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        return float(statistics.median(r["seconds"] for r in self.retrain))

    @property
    def rss(self) -> float:
        return float(max(r["peak_rss_mib"] for r in self.retrain))

    def row(self) -> dict[str, Any]:
        steps = {
            f"{step}_s": float(statistics.median(r["steps"][step] for r in self.retrain))
            for step in STEPS
        }
        fit_alone = float(statistics.median(r["seconds"] for r in self.fit_alone))
        return {
            "rows": self.rows,
            "runs": len(self.retrain),
            **steps,
            "total_s": self.seconds,
            "rows_per_s": self.rows / self.seconds,
            "peak_rss_mib": self.rss,
            "warm_rss_mib": max(r["warm_rss_mib"] for r in self.retrain),
            "artifact_mib": statistics.median(r["artifact_mib"] for r in self.retrain),
            "fit_alone_s": fit_alone,
            "fit_alone_rss_mib": max(r["peak_rss_mib"] for r in self.fit_alone),
            "x_fit_alone": self.seconds / fit_alone,
        }


def run_all(files: dict[int, Path], repeats: int, champion: Path, kind: str) -> list[Result]:
    """Every size `repeats` times, the two paths alternating their order in each repeat."""
    results = []
    for rows, csv in files.items():
        runs: dict[str, list[dict[str, Any]]] = {"retrain": [], "fit_alone": []}
        for repeat in range(repeats):
            paths = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
            for path in paths:
                measured = measure(path, csv, rows, champion, kind)
                runs[path].append(measured)
                print(
                    f"  {rows:>9,} {path:<9} run {repeat + 1}: {measured['seconds']:7.2f} s, "
                    f"peak RSS {measured['peak_rss_mib']:7.1f} MiB, load {measured['load_1m']:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
        results.append(Result(rows, runs["retrain"], runs["fit_alone"]))
    return results


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept); through the origin when there is one size only."""
    if len(set(xs)) < 2:
        return ys[0] / xs[0], 0.0
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


def rows_within(limit: float, slope: float, intercept: float) -> str:
    """The rows the linear fit allows under `limit`, to two significant digits."""
    if slope <= 0:
        return "? rows (no estimate: it did not grow with rows here, noise)"
    rows = (limit - intercept) / slope
    if rows <= 0:
        return "no rows"
    return f"about {float(f'{rows:.2g}'):,.0f} rows"


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return "-" if value is None else str(value)

    grid = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    lines = [
        "| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |"
        for row in grid
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def report(results: list[Result], kind: str, repeats: int) -> None:
    rows = [r.row() for r in results]
    loads = [run["load_1m"] for r in results for run in r.retrain + r.fit_alone]
    threads = os.environ.get("OMP_NUM_THREADS", f"default ({os.cpu_count()} CPUs)")
    columns = ["rows", "runs", *(f"{s}_s" for s in STEPS), "total_s", "rows_per_s"]
    columns += ["peak_rss_mib", "warm_rss_mib", "artifact_mib", "fit_alone_s"]
    columns += ["fit_alone_rss_mib", "x_fit_alone"]
    print(
        f"\nretrain of the {kind} reference pipeline from a local CSV, one fresh process per "
        f"run (median s of {repeats}, max peak RSS)"
    )
    print(table(rows, columns))
    print(
        "  fit_s: holdout split + clone + fit; serialize_s: joblib.dump + signature + profile;\n"
        "  warm_rss_mib: peak RSS before the timed part (imports, champion); x_fit_alone: "
        "total_s / fit_alone_s"
    )
    print(
        f"  OpenMP threads: {threads}; 1-minute load average before the runs: "
        f"{min(loads):.2f} to {max(loads):.2f} (other work on the machine slows the fits)"
    )
    sizes = [float(r.rows) for r in results]
    s_slope, s_intercept = linear_fit(sizes, [r.seconds for r in results])
    m_slope, m_intercept = linear_fit(sizes, [r.rss for r in results])
    print(
        f"\nlinear fit over {len(sizes)} size(s): seconds = {s_intercept:.2f} + "
        f"{s_slope * 1e6:.2f} µs/row; peak RSS MiB = {m_intercept:.0f} + "
        f"{m_slope * 1024:.2f} KiB/row"
    )
    print(
        f"at this rate a 15-minute Lambda fits "
        f"{rows_within(LAMBDA_SECONDS, s_slope, s_intercept)} (time-bound) and 10 GB "
        f"{rows_within(LAMBDA_MEMORY_MIB, m_slope, m_intercept)} (memory-bound: "
        "peak RSS grows roughly linearly)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,500000,1000000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kind", choices=["hgb", "logreg"], default="hgb")
    parser.add_argument(
        "--threads", type=int, default=1, help="OMP_NUM_THREADS of the runs; 0: as inherited"
    )
    parser.add_argument("--child", choices=["retrain", "fit_alone"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--champion", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.data, args.champion, args.kind)
        return
    sizes = sorted(int(s.replace("_", "")) for s in args.rows.split(","))
    if args.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sklambda-bench-retrain-") as tmp:
        directory = Path(tmp)
        champion = champion_file(directory, args.kind)
        files = {rows: csv_file(directory, rows) for rows in sizes}
        for rows, path in files.items():
            print(f"input {rows:,} rows: {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
        results = run_all(files, args.repeats, champion, args.kind)
    report(results, args.kind, args.repeats)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
