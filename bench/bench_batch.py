"""Batch scoring throughput and memory: the batch scorer against a naive pandas baseline.

    .venv/bin/python bench/bench_batch.py [--rows 1000000,5000000] [--repeats 3]
        [--naive-at-all-sizes] [--chunk-rows 50000]

Workload: the churn-like table (14 numeric, 6 categorical features and customer_id) as one
CSV per size, generated once into /tmp in blocks of 200,000 rows, uploaded to moto's S3 (a
server thread in this process); the HGB reference pipeline registered and promoted there.

Every measured run is a fresh child process, so its peak RSS is that path's alone (VmHWM from
/proc/self/status: on Linux ru_maxrss carries the spawning parent's peak across exec):
  naive     get_object → pandas.read_csv of the whole body → pipeline.predict_proba → add the
            prediction and proba columns → to_csv → put_object; timed download to upload.
  sklambda  BatchScorer built as the Lambda builds it (services.batch_scorer), warmed up on a
            tiny file (model load, imports), then BatchScorer.process(ObjectEvent) timed.
Paths alternate within each repeat; the table gives the median seconds and the highest peak
RSS. The naive path runs only at the first size unless --naive-at-all-sizes (at 5M rows it
needs several GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS_BUCKET = "bench-models"
DATA_BUCKET = "bench-data"
MODEL = "churn"
CACHE = Path("/tmp/sklambda-bench-batch")
BLOCK_ROWS = 200_000
WARMUP_KEY = f"batch/incoming/{MODEL}/bench/warmup.csv"

# Targets: sklambda/naive rows per second, sklambda peak RSS at the reference size (MiB),
# sklambda peak RSS at the largest size over the reference size.
MIN_SPEEDUP = 1.5
MAX_RSS_MIB = 500.0
MAX_RSS_GROWTH = 1.10
REFERENCE_ROWS = 1_000_000


# -- shared ---------------------------------------------------------------------------------
def environment(endpoint: str) -> dict[str, str]:
    """What points boto3 and sklambda at the moto server."""
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SKLAMBDA_MODELS_BUCKET": MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": DATA_BUCKET,
        "SKLAMBDA_API_AUTH": "none",
        "SKLAMBDA_SIGNING_KEY": "alias/sklambda-signing",  # sklambda.local.signing
        "PYTHONPATH": str(ROOT),
    }


def input_key(rows: int) -> str:
    return f"batch/incoming/{MODEL}/bench/churn-{rows}.csv"


def scored_keys(key: str) -> list[str]:
    """The objects the batch scorer writes for an incoming key (scored, errors, manifest)."""
    path = key.removeprefix(f"batch/incoming/{MODEL}/")
    scored = f"batch/scored/{MODEL}/{path}"
    return [scored, f"{scored}.manifest.json", f"batch/errors/{MODEL}/{path}.errors.csv"]


def naive_output_key(rows: int) -> str:
    return f"naive/scored/churn-{rows}.csv"


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux keeps a process's ru_maxrss across execve, so a child spawned by this (large)
    parent would report the parent's peak; VmHWM belongs to the child's own address space.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return ru_maxrss_mib()


def ru_maxrss_mib() -> float:
    """getrusage's peak RSS (KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- children: one measured run each --------------------------------------------------------
def child_naive(rows: int) -> dict[str, Any]:
    """What people write first: the whole file in pandas, one predict_proba, one upload."""
    import io

    import boto3
    import joblib
    import pandas as pd

    from sklambda.sample_data import FEATURES

    s3 = boto3.client("s3")
    artifact = f"models/{MODEL}/versions/1/model.joblib"
    body = s3.get_object(Bucket=MODELS_BUCKET, Key=artifact)["Body"].read()
    model = joblib.load(io.BytesIO(body))
    warm = peak_rss_mib()
    started = time.perf_counter()
    frame = pd.read_csv(s3.get_object(Bucket=DATA_BUCKET, Key=input_key(rows))["Body"])
    proba = model.predict_proba(frame[FEATURES])
    frame["prediction"] = model.classes_[proba.argmax(axis=1)]
    for i, label in enumerate(model.classes_):
        frame[f"proba_{label}"] = proba[:, i]
    output = frame.to_csv(index=False).encode()
    s3.put_object(Bucket=DATA_BUCKET, Key=naive_output_key(rows), Body=output)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "warm_rss_mib": warm}


def child_sklambda(rows: int) -> dict[str, Any]:
    """The Lambda's batch scorer on the uploaded file, after a warm-up on a tiny one."""
    from chalicelib.services import batch_scorer
    from chalicelib.storage import AwsClients

    clients = AwsClients()
    scorer = batch_scorer(clients)
    _expect_success(scorer.process(object_event(clients.s3, WARMUP_KEY)), None)
    event = object_event(clients.s3, input_key(rows))
    warm = peak_rss_mib()
    started = time.perf_counter()
    manifest = scorer.process(event)
    seconds = time.perf_counter() - started
    _expect_success(manifest, rows)
    assert manifest is not None
    return {"seconds": seconds, "rows": manifest["rows"]["scored"], "warm_rss_mib": warm}


def object_event(s3: Any, key: str) -> Any:
    """The ObjectCreated event S3 would send for `key` as it is now."""
    from chalicelib.batch import ObjectEvent

    head = s3.head_object(Bucket=DATA_BUCKET, Key=key)
    return ObjectEvent(
        bucket=DATA_BUCKET,
        key=key,
        etag=head["ETag"].strip('"'),
        version_id=None,
        size=int(head["ContentLength"]),
        sequencer="0",
        submitter="bench",
    )


def _expect_success(manifest: dict[str, Any] | None, rows: int | None) -> None:
    if manifest is None or manifest["status"] != "succeeded":
        raise RuntimeError(f"batch scoring did not succeed: {json.dumps(manifest)[:2000]}")
    if rows is not None and manifest["rows"]["scored"] != rows:
        raise RuntimeError(f"scored {manifest['rows']} of {rows} rows")


def run_child(path: str, rows: int) -> None:
    """Child process entry: run one path, print its measures as the last stdout line."""
    measured = child_naive(rows) if path == "naive" else child_sklambda(rows)
    measured["peak_rss_mib"] = peak_rss_mib()
    measured["ru_maxrss_mib"] = ru_maxrss_mib()
    print(json.dumps(measured), flush=True)


# -- parent: data, moto, runs, table --------------------------------------------------------
def csv_file(rows: int) -> Path:
    """The input CSV of `rows` rows, generated once in blocks so the generator stays small."""
    from sklambda.sample_data import churn_frame

    target = CACHE / f"churn-{rows}.csv"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("w", newline="") as out:
        for i, start in enumerate(range(0, rows, BLOCK_ROWS)):
            block = churn_frame(min(BLOCK_ROWS, rows - start), seed=i, with_target=False)
            block.to_csv(out, header=i == 0, index=False)
    partial.rename(target)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(clients: Any, files: dict[int, Path]) -> None:
    """Buckets, the registered and promoted model, the warm-up file and the inputs."""
    from chalicelib.registry import open_registry
    from sklambda.local.signing import create_signing_key
    from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model

    for bucket in (MODELS_BUCKET, DATA_BUCKET):
        clients.s3.create_bucket(Bucket=bucket)
    create_signing_key(clients.client("kms"))
    registry = open_registry(clients)
    model, frame = trained_reference_model("hgb", 5000)
    version = registry.register(MODEL, model, frame, TARGET)["version"]
    registry.promote(MODEL, version, reason="bench")
    warmup = churn_frame(200, seed=99, with_target=False)[["customer_id", *FEATURES]]
    body = warmup.to_csv(index=False).encode()
    clients.s3.put_object(Bucket=DATA_BUCKET, Key=WARMUP_KEY, Body=body)
    for rows, path in files.items():
        clients.s3.upload_file(str(path), DATA_BUCKET, input_key(rows))


def clear_outputs(s3: Any, rows: int) -> None:
    """Forget earlier results, so that the next run scores the file again."""
    keys = scored_keys(input_key(rows)) + scored_keys(WARMUP_KEY) + [naive_output_key(rows)]
    s3.delete_objects(Bucket=DATA_BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})


def measure(path: str, rows: int, env: dict[str, str]) -> dict[str, Any]:
    """One fresh child process running `path` on the file of `rows` rows."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", path, "--size", str(rows)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} at {rows} rows failed:\n{done.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if measured["rows"] != rows:
        raise RuntimeError(f"{path} scored {measured['rows']} of {rows} rows")
    return measured


@dataclass
class Result:
    rows: int
    path: str
    runs: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        return float(statistics.median(r["seconds"] for r in self.runs))

    @property
    def rss(self) -> float:
        return float(max(r["peak_rss_mib"] for r in self.runs))

    def row(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "path": self.path,
            "runs": len(self.runs),
            "median_s": self.seconds,
            "min_s": min(r["seconds"] for r in self.runs),
            "rows_per_s": self.rows / self.seconds,
            "peak_rss_mib": self.rss,
            "warm_rss_mib": max(r["warm_rss_mib"] for r in self.runs),
        }


def run_all(
    sizes: list[int], repeats: int, naive_everywhere: bool, clients: Any, env: dict[str, str]
) -> list[Result]:
    """Every (size, path) `repeats` times, paths alternating their order in each repeat."""
    results: list[Result] = []
    for n, rows in enumerate(sizes):
        paths = ["naive", "sklambda"] if n == 0 or naive_everywhere else ["sklambda"]
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        for repeat in range(repeats):
            for path in paths if repeat % 2 == 0 else paths[::-1]:
                clear_outputs(clients.s3, rows)
                measured = measure(path, rows, env)
                runs[path].append(measured)
                print(
                    f"  {rows:>9,} {path:<8} run {repeat + 1}: {measured['seconds']:7.2f} s, "
                    f"peak RSS {measured['peak_rss_mib']:7.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
        results.extend(Result(rows, p, r) for p, r in runs.items())
    return results


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return "-" if value is None else str(value)

    grid = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    return "\n".join(
        "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in grid
    )


def verdicts(results: list[Result]) -> list[dict[str, Any]]:
    """Each target with its measured ratio or value, PASS or MISS (n/a when not measured)."""
    by = {(r.rows, r.path): r for r in results}
    sizes = sorted({r.rows for r in results})
    reference = REFERENCE_ROWS if REFERENCE_ROWS in sizes else sizes[0]
    checks = []
    for rows in sizes:
        naive, ours = by.get((rows, "naive")), by.get((rows, "sklambda"))
        if naive and ours:
            speedup = naive.seconds / ours.seconds
            checks.append(_check(f"throughput sklambda/naive at {rows:,}", speedup, MIN_SPEEDUP))
    ours = by[(reference, "sklambda")]
    checks.append(_check(f"sklambda peak RSS MiB at {reference:,}", ours.rss, MAX_RSS_MIB, False))
    largest = by.get((sizes[-1], "sklambda"))
    if largest and sizes[-1] != reference:
        growth = largest.rss / ours.rss
        label = f"RSS({sizes[-1]:,}) / RSS({reference:,})"
        checks.append(_check(label, growth, MAX_RSS_GROWTH, False))
    else:
        checks.append({"target": "RSS(largest) / RSS(reference)", "value": None, "verdict": "n/a"})
    return checks


def _check(target: str, value: float, limit: float, at_least: bool = True) -> dict[str, Any]:
    ok = value >= limit if at_least else value <= limit
    goal = f"{'>=' if at_least else '<='} {limit:g}"
    return {"target": target, "goal": goal, "value": value, "verdict": "PASS" if ok else "MISS"}


def report(results: list[Result], sizes: list[int], naive_everywhere: bool) -> None:
    columns = ["rows", "path", "runs", "median_s", "min_s", "rows_per_s", "peak_rss_mib"]
    print("\nbatch scoring, CSV on moto S3, one fresh process per run (median s, max RSS)")
    print(table([r.row() for r in results], [*columns, "warm_rss_mib"]))
    print("  warm_rss_mib: peak RSS before the timed part (imports, model, warm-up)")
    if len(sizes) > 1 and not naive_everywhere:
        print(
            f"  naive skipped above {sizes[0]:,} rows: it holds the whole file, its frame and "
            "its output at once (several GB at 5M rows); --naive-at-all-sizes runs it"
        )
    print()
    print(table(verdicts(results), ["target", "goal", "value", "verdict"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,5000000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-at-all-sizes", action="store_true")
    parser.add_argument("--chunk-rows", type=int, default=None, help="SKLAMBDA_BATCH_CHUNK_ROWS")
    parser.add_argument("--child", choices=["naive", "sklambda"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.size)
        return
    sizes = sorted(int(s.replace("_", "")) for s in args.rows.split(","))
    benchmark(sizes, args.repeats, args.naive_at_all_sizes, args.chunk_rows)


def benchmark(sizes: list[int], repeats: int, naive_everywhere: bool, chunk: int | None) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from chalicelib.core import Settings
    from chalicelib.storage import AwsClients

    started = time.perf_counter()
    files = {rows: csv_file(rows) for rows in sizes}
    for rows, path in files.items():
        print(f"input {rows:,} rows: {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = environment(f"http://127.0.0.1:{port}")
        if chunk:
            env["SKLAMBDA_BATCH_CHUNK_ROWS"] = str(chunk)
        os.environ.update(env)
        clients = AwsClients(Settings.from_env(env))
        prepare(clients, files)
        results = run_all(sizes, repeats, naive_everywhere, clients, env)
    finally:
        server.stop()
    report(results, sizes, naive_everywhere)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
