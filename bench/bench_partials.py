"""Monitor runs through hourly partials against a full re-read of the same 24-hour window.

    .venv/bin/python bench/bench_partials.py [--records 500000] [--repeats 3]

Workload (one process, everything inside moto's mock_aws): the HGB reference churn model
registered and promoted; N capture records spread evenly over the 24 delivery hours of the
window, objects of 5,000 JSON lines under each hour's `capture/YYYY/MM/DD/HH/` prefix, each
record a churn row with the model's own prediction and probabilities (as bench_monitor.py
writes them). No labels: the label join reads records either way. Writing is not timed.

Timed, alternating in each repeat:
  full        every partial deleted first: the run reads and bins all N records (what every
              run cost before partials), and stores the 24 hourly partials.
  new_hour    the newest hour's partial deleted first, as when a new hour of traffic has
              landed since the last run: the run reads that hour's objects and merges the
              other 23 stored partials.
Then a projection for 100 million predictions a day from the measured throughput.
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
MONITOR_TARGET_RECORDS_PER_S = 25_000


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
    prefix = f"reports/_partials/{MODEL}/"
    listed = clients.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix).get("Contents", [])
    for item in listed:
        if newest_only is None or item["Key"].endswith(f"{newest_only:%Y-%m-%dT%H}.json"):
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

    from chalicelib.services import monitor as build_monitor

    at = datetime.now(UTC) + timedelta(minutes=1)
    newest = at.replace(minute=0, second=0, microsecond=0)
    with mock_aws():
        started = time.perf_counter()
        clients, registry = setup(args.records, at)
        print(f"setup {time.perf_counter() - started:.0f} s", file=sys.stderr)
        monitor = build_monitor(clients, registry)
        delete_partials(clients)
        timed_run(monitor, at, "warm-up", args.records)  # imports, template compilation
        times: dict[str, list[float]] = {"full": [], "new_hour": []}
        for repeat in range(args.repeats):
            for variant in ("full", "new_hour") if repeat % 2 == 0 else ("new_hour", "full"):
                delete_partials(clients, None if variant == "full" else newest)
                times[variant].append(timed_run(monitor, at, variant, args.records))
                print(f"  {variant:<9} {times[variant][-1]:7.2f} s", file=sys.stderr)
    full, new_hour = (statistics.median(times[v]) for v in ("full", "new_hour"))
    rows = [
        {"run": "full re-read", "median_s": full, "records_per_s": args.records / full},
        {
            "run": "after one new hour",
            "median_s": new_hour,
            "records_per_s": args.records / HOURS / new_hour,
        },
    ]
    print(f"\n24-hour window, {args.records:,} records, median of {args.repeats}")
    print(table(rows, ["run", "median_s", "records_per_s"]))
    ratio = new_hour / full
    print(
        f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}  after one new hour: {ratio:.3f} of "
        f"the full re-read (<= {TARGET_RATIO})"
    )
    throughput = args.records / full
    print(
        f"{'PASS' if throughput >= MONITOR_TARGET_RECORDS_PER_S else 'FAIL'}  aggregation "
        f"{throughput:,.0f} records/s (>= {MONITOR_TARGET_RECORDS_PER_S:,})"
    )
    projection(throughput, new_hour - (args.records / HOURS) / throughput)


def projection(records_per_s: float, merge_s: float) -> None:
    """100 million predictions a day, from the measured throughput of one process."""
    per_hour = 100_000_000 / 24
    objects = per_hour / LINES_PER_OBJECT
    aggregate_s = per_hour / records_per_s
    figures = [
        ("records per hour", f"{per_hour:,.0f}"),
        (f"capture objects per hour ({LINES_PER_OBJECT:,} lines)", f"{objects:,.0f}"),
        ("hourly run: aggregate the new hour (one process)", f"{aggregate_s:,.0f} s"),
        ("hourly run: merge 23 stored partials", f"{merge_s:.2f} s"),
        ("fits Lambda's 15 minutes", "yes" if aggregate_s < 800 else "no"),
        (
            "Lambda cost per day (3,008 MB, $0.0000166667 per GB-s)",
            f"${24 * aggregate_s * 2.9375 * 0.0000166667:,.2f}",
        ),
    ]
    rows = [{"figure": figure, "value": value} for figure, value in figures]
    print("\nprojection: 100 million predictions a day, one monitor run per hour")
    print(table(rows, ["figure", "value"]))


if __name__ == "__main__":
    main()
