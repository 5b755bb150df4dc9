"""Monitor runs through hourly partials against a full re-read of the same 24-hour window.

    .venv/bin/python bench/bench_partials.py [--records 500000] [--repeats 3]

Workload (one process, everything inside moto's mock_aws): the HGB reference churn model
registered and promoted; N capture records spread evenly over the 24 delivery hours of the
window, objects of 5,000 JSON lines under each hour's `capture/YYYY/MM/DD/HH/` prefix, each
record a churn row with the model's own prediction and probabilities (as bench_monitor.py
writes them). No labels: the label join reads records either way. Writing is not timed.

Timed, in turn in each repeat:
  full        every partial deleted first: the run reads and bins all N records (what every
              run cost before partials), and stores the 24 hourly partials.
  new_hour    the newest hour's partial deleted first, as when a new hour of traffic has
              landed since the last run and nothing aggregated it: the run reads that hour's
              objects and merges the other 23 stored partials.
  arrivals    every partial deleted first, then the aggregating function's handler takes every
              object's S3 notification, ten messages per invocation as its event source
              mapping hands them (one process, one invocation after another): its records per
              second against the full read's, in the same repeat.
  after       the monitor run that follows: everything aggregated, it merges 24 partials.
Then the aggregating function's peak memory (tracemalloc) over one hour's objects and over
all of them (flat: it holds one object at a time), and a projection for 100 million
predictions a day from the measured figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import table  # noqa: E402

MODELS_BUCKET = "bench-models"
DATA_BUCKET = "bench-data"
MODEL = "churn"
HOURS = 24
LINES_PER_OBJECT = 5_000
RECORDS_PER_REQUEST = 10
TARGET_RATIO = 0.10
BATCH_SIZE = 10  # aggregate_arrivals' SQS batch size (app.py)
MONITOR_TARGET_RECORDS_PER_S = 25_000
# Prices (us-east-1, on demand) and the functions' memory (.chalice/config.json).
LAMBDA_GB_S = 0.0000166667
S3_GET, S3_PUT, SQS_REQUEST = 0.0004 / 1000, 0.005 / 1000, 0.40 / 1_000_000
AGGREGATE_MEMORY_GB = 1769 / 1024
MONITOR_MEMORY_GB = 3008 / 1024


def setup(records: int, at: datetime) -> tuple[Any, Any]:
    """Clients and the registry, with the model registered and the capture written."""
    from chalicelib.core import reset_settings
    from chalicelib.registry import open_registry
    from chalicelib.storage import default_clients
    from sklambda.local.signing import create_signing_key
    from sklambda.sample_data import TARGET, trained_reference_model

    reset_settings()
    clients = default_clients()
    clients.reset()
    clients.s3.create_bucket(Bucket=MODELS_BUCKET)
    clients.s3.create_bucket(Bucket=DATA_BUCKET)
    create_signing_key(clients.client("kms"))
    registry = open_registry(clients)
    model, frame = trained_reference_model("hgb", n_rows=5000)
    registry.register(MODEL, model, frame, TARGET)
    registry.promote(MODEL, 1)
    write_capture(clients, model, records, at)
    return clients, registry


def write_capture(clients: Any, model: Any, records: int, at: datetime) -> None:
    from chalicelib.core import new_prediction_id
    from chalicelib.serving import capture_lines
    from sklambda.sample_data import FEATURES, churn_frame

    frame = churn_frame(records, seed=1, with_target=False)[FEATURES]
    classes = [str(c) for c in model.classes_]
    per_hour = -(-records // HOURS)
    first_hour = (at - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    number = 0
    for hour_index in range(HOURS):
        hour = first_hour + timedelta(hours=hour_index)
        block_rows = frame.iloc[hour_index * per_hour : (hour_index + 1) * per_hour]
        for start in range(0, len(block_rows), LINES_PER_OBJECT):
            block = block_rows.iloc[start : start + LINES_PER_OBJECT]
            proba = model.predict_proba(block)
            labels = model.classes_[proba.argmax(axis=1)].tolist()
            rows = block.astype(object).where(block.notna(), None).to_dict("records")
            captured = hour + timedelta(minutes=30)
            stamp = captured.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            lines = [
                {
                    "model": MODEL,
                    "version": 1,
                    "alias": "champion",
                    "role": "champion",
                    "source": "http",
                    "prediction_id": new_prediction_id(int(captured.timestamp() * 1000)),
                    "inputs": row,
                    "prediction": label,
                    "probabilities": dict(zip(classes, p, strict=True)),
                    "latency_ms": 12.5,
                    "consumer": "bench",
                    "request_id": f"req-{number}-{i // RECORDS_PER_REQUEST}",
                    "captured_at": stamp,
                }
                for i, (row, label, p) in enumerate(zip(rows, labels, proba.tolist(), strict=True))
            ]
            number += 1
            key = f"capture/{hour:%Y/%m/%d/%H}/sklambda-capture-{number:06d}"
            body = ("\n".join(capture_lines(lines)) + "\n").encode()
            clients.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)


def delete_partials(clients: Any, newest_only: datetime | None = None) -> None:
    """Every partial and ledger, or those of the newest hour only."""
    prefix = "reports/_partials/"
    pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=DATA_BUCKET, Prefix=prefix)
    for item in [item for page in pages for item in page.get("Contents", [])]:
        if newest_only is None or f"{newest_only:%Y-%m-%dT%H}" in item["Key"]:
            clients.s3.delete_object(Bucket=DATA_BUCKET, Key=item["Key"])


def timed_run(monitor: Any, at: datetime, label: str, records: int) -> float:
    from chalicelib.monitoring import MonitorRun

    run = MonitorRun(f"bench-{label}-{time.time_ns()}", at, "schedule", HOURS)
    started = time.perf_counter()
    outcome = monitor.run([MODEL], run)
    seconds = time.perf_counter() - started
    if outcome["models"][MODEL]["status"] != "done":
        raise RuntimeError(json.dumps(outcome)[:2000])
    report = monitor.latest_report(MODEL)
    seen = report["versions"][0]["traffic"]["http"]
    if seen != records:
        raise RuntimeError(f"{label}: the report saw {seen} of {records} records")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        SKLAMBDA_MODELS_BUCKET=MODELS_BUCKET,
        SKLAMBDA_DATA_BUCKET=DATA_BUCKET,
        SKLAMBDA_SIGNING_KEY="alias/sklambda-signing",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from chalicelib.services import arrivals as build_arrivals
    from chalicelib.services import monitor as build_monitor

    at = datetime.now(UTC) + timedelta(minutes=1)
    newest = at.replace(minute=0, second=0, microsecond=0)
    with mock_aws():
        started = time.perf_counter()
        clients, registry = setup(args.records, at)
        print(f"setup {time.perf_counter() - started:.0f} s", file=sys.stderr)
        monitor = build_monitor(clients, registry)
        arrivals = build_arrivals(clients, registry)
        objects = [
            (item["Key"], item["Size"])
            for page in clients.s3.get_paginator("list_objects_v2").paginate(
                Bucket=DATA_BUCKET, Prefix="capture/"
            )
            for item in page.get("Contents", [])
        ]
        delete_partials(clients)
        timed_run(monitor, at, "warm-up", args.records)  # imports, template compilation
        times: dict[str, list[float]] = {v: [] for v in ("full", "new_hour", "arrivals", "after")}
        ratios: list[float] = []
        for repeat in range(args.repeats):
            order = (
                ("full", "new_hour", "arrivals")
                if repeat % 2 == 0
                else ("arrivals", "new_hour", "full")
            )
            for variant in order:
                delete_partials(clients, newest if variant == "new_hour" else None)
                if variant == "arrivals":
                    times[variant].append(aggregate(arrivals, objects))
                    times["after"].append(timed_run(monitor, at, "after", args.records))
                else:
                    times[variant].append(timed_run(monitor, at, variant, args.records))
                print(f"  {variant:<9} {times[variant][-1]:7.2f} s", file=sys.stderr)
            ratios.append(times["full"][-1] / times["arrivals"][-1])
        delete_partials(clients)
        one_hour = [o for o in objects if o[0].startswith(objects[-1][0].rsplit("/", 1)[0])]
        peaks = {"one hour": peak_memory(arrivals, one_hour)}
        delete_partials(clients)
        peaks["whole window"] = peak_memory(arrivals, objects)
    full, new_hour, arrived, after = (
        statistics.median(times[v]) for v in ("full", "new_hour", "arrivals", "after")
    )
    hourly = args.records / HOURS
    rows = [
        {"step": "monitor: full re-read", "median_s": full, "records_per_s": args.records / full},
        {
            "step": "monitor: after one new hour",
            "median_s": new_hour,
            "records_per_s": hourly / new_hour,
        },
        {
            "step": "aggregating function: every object",
            "median_s": arrived,
            "records_per_s": args.records / arrived,
        },
        {"step": "monitor: after aggregation", "median_s": after, "records_per_s": None},
    ]
    print(
        f"\n24-hour window, {args.records:,} records in {len(objects)} objects, "
        f"median of {args.repeats}"
    )
    print(table(rows, ["step", "median_s", "records_per_s"]))
    ratio = new_hour / full
    print(
        f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}  after one new hour: {ratio:.3f} of "
        f"the full re-read (<= {TARGET_RATIO}); after aggregation: {after / full:.3f}"
    )
    speed = statistics.median(ratios)
    throughput = args.records / arrived
    print(
        f"{'PASS' if throughput >= MONITOR_TARGET_RECORDS_PER_S else 'FAIL'}  aggregating "
        f"function: {throughput:,.0f} records/s (>= {MONITOR_TARGET_RECORDS_PER_S:,}, the "
        f"monitor's throughput before partials); per record {speed:.2f}x this run's full "
        "read (median of per-repeat ratios; the rest is its S3 requests per object)"
    )
    flat = peaks["whole window"] / peaks["one hour"]
    print(
        f"{'PASS' if flat <= 1.5 else 'FAIL'}  peak memory: one hour's {len(one_hour)} objects "
        f"{peaks['one hour'] / 2**20:.1f} MiB, all {len(objects)} objects "
        f"{peaks['whole window'] / 2**20:.1f} MiB ({flat:.2f}x; flat <= 1.5x)"
    )
    projection(throughput, after, args.records / len(objects))


def aggregate(arrivals: Any, objects: list[tuple[str, int]]) -> float:
    """Seconds for the aggregating function's handler to add every object, fed as the event
    source mapping feeds it: S3 notifications, ten messages per invocation, one after another."""
    from chalicelib.monitoring import handle_arrivals_event

    started = time.perf_counter()
    for start in range(0, len(objects), BATCH_SIZE):
        event = {
            "Records": [s3_message(key, size) for key, size in objects[start : start + BATCH_SIZE]]
        }
        outcome = handle_arrivals_event(arrivals, event)
        if outcome["batchItemFailures"]:
            raise RuntimeError(json.dumps(outcome))
    return time.perf_counter() - started


def s3_message(key: str, size: int) -> dict[str, Any]:
    """One SQS message holding S3's ObjectCreated notification of one object."""
    notification = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": DATA_BUCKET},
            "object": {"key": key, "size": size, "eTag": "e", "sequencer": "01"},
        },
    }
    return {"messageId": key, "body": json.dumps({"Records": [notification]})}


def peak_memory(arrivals: Any, objects: list[tuple[str, int]]) -> int:
    """Peak bytes allocated (tracemalloc) while adding `objects` (in batches, as timed)."""
    import tracemalloc

    tracemalloc.start()
    try:
        aggregate(arrivals, objects)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def projection(records_per_s: float, monitor_s: float, lines_per_object: float) -> None:
    """100 million predictions a day, from the measured figures of one process."""
    per_hour = 100_000_000 / 24
    objects = per_hour / LINES_PER_OBJECT
    object_s = LINES_PER_OBJECT / records_per_s
    busy = objects * object_s / 3600  # average concurrent executions of the aggregator
    aggregator_gb_s = 24 * objects * object_s * AGGREGATE_MEMORY_GB
    monitor_gb_s = 24 * monitor_s * MONITOR_MEMORY_GB
    # Per object: GET it, GET + PUT the version's partial, GET + PUT the hour's ledger.
    requests = 24 * objects * (3 * S3_GET + 2 * S3_PUT) + 24 * objects * SQS_REQUEST
    figures = [
        ("records per hour", f"{per_hour:,.0f}"),
        (f"capture objects per hour ({LINES_PER_OBJECT:,} lines)", f"{objects:,.0f}"),
        ("aggregating one object (one process)", f"{object_s:.2f} s"),
        ("aggregator: average concurrent executions", f"{busy:.2f}"),
        ("aggregator: seconds of work per hour", f"{objects * object_s:,.0f} s"),
        ("hourly monitor run (merge the window's partials)", f"{monitor_s:.2f} s"),
        ("fits Lambda's 15 minutes", "yes" if monitor_s < 800 else "no"),
        (
            f"Lambda per day ({AGGREGATE_MEMORY_GB * 1024:,.0f} MB aggregator, "
            f"{MONITOR_MEMORY_GB * 1024:,.0f} MB monitor)",
            f"${(aggregator_gb_s + monitor_gb_s) * LAMBDA_GB_S:,.2f}",
        ),
        ("S3 and SQS requests per day", f"${requests:,.2f}"),
    ]
    rows = [{"figure": figure, "value": value} for figure, value in figures]
    print(
        "\nprojection: 100 million predictions a day "
        f"(bench objects: {lines_per_object:,.0f} lines)"
    )
    print(table(rows, ["figure", "value"]))


if __name__ == "__main__":
    main()
