"""Scheduled monitor throughput and memory: Monitor.run over captured traffic, with baselines.

    .venv/bin/python bench/bench_monitor.py [--records 100000,500000] [--repeats 3]
        [--no-pandas]

Workload, per measured run (a fresh child process, everything inside moto's mock_aws): the
HGB reference churn model fitted on 5,000 rows, registered and promoted to champion; then N
capture records written as Firehose delivers them, objects of 5,000 JSON lines under the
current hour's `capture/YYYY/MM/DD/HH/` prefix. Each record is a row of
churn_frame(N, seed=1)[FEATURES] as `inputs` (NaN as null), the model's own prediction and
probabilities, a UUIDv7 prediction id, 10 records per request id (one latency and one
captured_at per request, spread over the last hour), the model/version/alias/role/source/
consumer fields and the capture marker (capture.capture_lines). Ground truth for 10 % of the
ids (85 % of it agreeing with the prediction) is written with feedback.store_feedback, 10,000
items per object. Writing all this is not timed.

Timed, one variant per child:
  sklambda   services.monitor(clients, registry).run(["churn"], MonitorRun(...)) for a 24-hour
             window ending a minute from now: claim, profile and feedback reads, every capture
             hour listed and read from moto S3, parsed, binned, joined with the labels,
             quality, report JSON and HTML written, metrics put to moto CloudWatch.
  read_only  list the same capture objects, get each one and json.loads every line: the
             floor any monitor of this capture pays (it skips the feedback, a tenth of the
             records' size).
  pandas     list and get them, json.loads every line into a list of the records' inputs,
             pd.DataFrame.from_records, then per feature np.histogram on the reference
             profile's bin edges (outer bins open, as the monitor's) or value_counts for
             categories: the naive approach, whose memory grows with N.
Before the timer: setup done, the generated data freed, gc and malloc_trim, the monitor built
and the modules it imports lazily (sklearn.metrics, the HTML report) and the CloudWatch client
loaded. Peak RSS is the timed part's own: /proc/self/clear_refs resets VmHWM just before the
timer. peak_rss_mib therefore still counts what every variant holds alike (moto's copy of the
capture, the model, the interpreter); added_mib is the peak over the RSS at the start.
Variants alternate their order in each repeat; the table gives median seconds and the highest
peak RSS of the repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
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
REGION = "us-east-1"
MODEL = "churn"
CAPTURE_PREFIX = "capture/"
FEEDBACK_PREFIX = "feedback/"
LINES_PER_OBJECT = 5000  # what one Firehose delivery holds here
RECORDS_PER_REQUEST = 10
FEEDBACK_SHARE = 0.10
FEEDBACK_AGREEMENT = 0.85
FEEDBACK_PER_OBJECT = 10_000  # the feedback route's limit per request
WINDOW_HOURS = 24  # Settings.monitor_window_hours' default
VARIANTS = ["sklambda", "read_only", "pandas"]


# -- memory ---------------------------------------------------------------------------------
def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """Peak RSS since the last reset, in MiB (VmHWM; ru_maxrss where /proc is missing)."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    return _status_mib("VmRSS") or 0.0


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux 4.0+); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so the timed part starts lean."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- child: setup (untimed) -----------------------------------------------------------------
def _iso_ms(at: Any) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_capture(clients: Any, model: Any, records: int) -> list[tuple[str, Any]]:
    """N capture records in objects of LINES_PER_OBJECT lines; (prediction id, label) pairs."""
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from chalicelib.core import new_prediction_id
    from chalicelib.serving import capture_lines
    from sklambda.sample_data import FEATURES, churn_frame

    frame = churn_frame(records, seed=1, with_target=False)[FEATURES]
    rng = np.random.default_rng(7)
    requests = -(-records // RECORDS_PER_REQUEST)
    latency = np.round(rng.lognormal(np.log(12.0), 0.5, requests), 3)
    now = datetime.now(UTC)
    first = now - timedelta(hours=1) + timedelta(seconds=1)
    span_ms = (now - first).total_seconds() * 1000.0
    request_ms = [int(i * span_ms / requests) for i in range(requests)]
    classes = [str(c) for c in model.classes_]
    pairs: list[tuple[str, Any]] = []
    for number, start in enumerate(range(0, records, LINES_PER_OBJECT), start=1):
        block = frame.iloc[start : start + LINES_PER_OBJECT]
        proba = model.predict_proba(block)
        labels = model.classes_[proba.argmax(axis=1)].tolist()
        rows = block.astype(object).where(block.notna(), None).to_dict("records")
        batch = []
        for offset, (row, label, p) in enumerate(zip(rows, labels, proba.tolist(), strict=True)):
            request = (start + offset) // RECORDS_PER_REQUEST
            at = first + timedelta(milliseconds=request_ms[request])
            pid = new_prediction_id(int(at.timestamp() * 1000))
            pairs.append((pid, label))
            batch.append(
                {
                    "model": MODEL,
                    "version": 1,
                    "alias": "champion",
                    "role": "champion",
                    "source": "http",
                    "prediction_id": pid,
                    "inputs": row,
                    "prediction": label,
                    "probabilities": dict(zip(classes, p, strict=True)),
                    "latency_ms": float(latency[request]),
                    "consumer": "bench",
                    "request_id": f"req-{request:08d}",
                    "captured_at": _iso_ms(at),
                }
            )
        delivered = datetime.now(UTC)
        key = f"{CAPTURE_PREFIX}{delivered:%Y/%m/%d/%H}/sklambda-capture-{number:06d}"
        body = ("\n".join(capture_lines(batch)) + "\n").encode()
        clients.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
    return pairs


def write_feedback(clients: Any, pairs: list[tuple[str, Any]]) -> int:
    """Ground truth for FEEDBACK_SHARE of the predictions, through the route's writer."""
    from datetime import UTC, datetime

    import numpy as np

    from chalicelib.serving import store_feedback
    from chalicelib.storage import ObjectStore

    rng = np.random.default_rng(11)
    chosen = rng.choice(len(pairs), size=int(len(pairs) * FEEDBACK_SHARE), replace=False)
    agree = rng.uniform(size=chosen.size) < FEEDBACK_AGREEMENT
    items = []
    for index, same in zip(chosen.tolist(), agree.tolist(), strict=True):
        pid, label = pairs[index]
        items.append({"prediction_id": pid, "actual": label if same else 1 - int(label)})
    store = ObjectStore(clients.s3, DATA_BUCKET)
    for n, start in enumerate(range(0, len(items), FEEDBACK_PER_OBJECT)):
        store_feedback(
            store,
            FEEDBACK_PREFIX,
            MODEL,
            items[start : start + FEEDBACK_PER_OBJECT],
            received=datetime.now(UTC),
            request_id=f"fb-{n:04d}",
            consumer="bench",
        )
    return len(items)


def setup(records: int) -> tuple[Any, Any, int]:
    """Buckets, the promoted champion, the capture and the feedback; (clients, registry, labels)."""
    from chalicelib.core import Settings
    from chalicelib.registry import ModelCache, open_registry
    from chalicelib.storage import AwsClients
    from sklambda.local.signing import LOCAL_SIGNING_KEY, create_signing_key
    from sklambda.sample_data import TARGET, trained_reference_model

    settings = Settings(
        models_bucket=MODELS_BUCKET,
        data_bucket=DATA_BUCKET,
        region=REGION,
        signing_key=LOCAL_SIGNING_KEY,
    )
    clients = AwsClients(settings)
    for bucket in (MODELS_BUCKET, DATA_BUCKET):
        clients.s3.create_bucket(Bucket=bucket)
    create_signing_key(clients.client("kms"))
    registry = open_registry(clients)
    registry._cache = ModelCache()
    model, frame = trained_reference_model("hgb", n_rows=5000)
    version = registry.register(MODEL, model, frame, TARGET)["version"]
    registry.promote(MODEL, int(version), reason="bench")
    pairs = write_capture(clients, model, records)
    labels = write_feedback(clients, pairs)
    return clients, registry, labels


# -- child: the timed variants --------------------------------------------------------------
def capture_keys(s3: Any) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return [
        item["Key"]
        for page in paginator.paginate(Bucket=DATA_BUCKET, Prefix=CAPTURE_PREFIX)
        for item in page.get("Contents", [])
    ]


def prepare_sklambda(clients: Any, registry: Any) -> Any:
    import sklearn.metrics  # noqa: F401 - quality imports it on first use

    from chalicelib.monitoring.report import render_report_html
    from chalicelib.services import monitor

    render_report_html({})  # loads Jinja2 and compiles the report's templates, once per process
    clients.client("cloudwatch")
    return monitor(clients, registry)


def run_sklambda(monitor: Any, records: int) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from chalicelib.monitoring import MonitorRun

    run = MonitorRun(
        f"bench-{records}", datetime.now(UTC) + timedelta(minutes=1), "schedule", WINDOW_HOURS
    )
    outcome = monitor.run([MODEL], run)
    return {"outcome": outcome}


def check_sklambda(monitor: Any, result: dict[str, Any], records: int, labels: int) -> int:
    """The records the report counted; raise when the run did not see all the data."""
    outcome = result.pop("outcome")
    status = outcome["models"][MODEL]["status"]
    if status != "done":
        raise RuntimeError(f"monitor run {status}: {json.dumps(outcome)[:2000]}")
    report = monitor.latest_report(MODEL)
    entry = next(v for v in report["versions"] if v["version"] == 1)
    seen = int(entry["traffic"]["http"])
    joined = int(report["feedback"]["joined"])
    if seen != records or joined != labels:
        raise RuntimeError(f"report saw {seen} of {records} records, joined {joined} of {labels}")
    result.update(
        status=entry["status"],
        accuracy=(entry["quality"].get("metrics") or {}).get("accuracy"),
        joined=joined,
    )
    return seen


def run_read_only(s3: Any) -> int:
    """List, get and json.loads every capture line; nothing kept."""
    lines = 0
    for key in capture_keys(s3):
        body = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        for line in body.splitlines():
            if line:
                json.loads(line)
                lines += 1
    return lines


def run_pandas(s3: Any, profile: dict[str, Any]) -> int:
    """All inputs in one DataFrame, then a histogram (or value counts) per feature."""
    import numpy as np
    import pandas as pd

    inputs = []
    for key in capture_keys(s3):
        body = s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        for line in body.splitlines():
            if line:
                inputs.append(json.loads(line)["inputs"])
    frame = pd.DataFrame.from_records(inputs)
    counts: dict[str, Any] = {}
    for name, feature in profile["features"].items():
        column = frame[name]
        if feature["type"] == "number" and feature["bin_edges"]:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            edges = np.asarray(feature["bin_edges"], dtype=float)
            edges[0], edges[-1] = -np.inf, np.inf  # outer bins open, as the profile's
            counts[name] = np.histogram(values[np.isfinite(values)], bins=edges)[0]
        else:
            counts[name] = column.value_counts(dropna=False)
    return len(frame)


def code_fingerprint() -> str:
    """A hash of the chalicelib sources this process loaded, to spot code changing mid-run."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(sys.modules):
        path = getattr(sys.modules[name], "__file__", None)
        if name.startswith("chalicelib") and path:
            digest.update(name.encode() + Path(path).read_bytes())
    return digest.hexdigest()[:12]


def run_child(variant: str, records: int) -> None:
    """Child process entry: set up, run one variant, print its measures as the last line."""
    from moto import mock_aws

    with mock_aws():
        started = time.perf_counter()
        clients, registry, labels = setup(records)
        setup_s = time.perf_counter() - started
        monitor = prepare_sklambda(clients, registry) if variant == "sklambda" else None
        profile = registry.get_profile(MODEL, 1) if variant == "pandas" else None
        release_memory()
        base = rss_mib()
        reset = reset_peak_rss()
        started = time.perf_counter()
        if variant == "sklambda":
            result = run_sklambda(monitor, records)
        elif variant == "read_only":
            result = {"seen": run_read_only(clients.s3)}
        else:
            result = {"seen": run_pandas(clients.s3, profile or {})}
        seconds = time.perf_counter() - started
        peak = peak_rss_mib()
        if variant == "sklambda":
            result["seen"] = check_sklambda(monitor, result, records, labels)
    if result["seen"] != records:
        raise RuntimeError(f"{variant} saw {result['seen']} of {records} records")
    result.update(
        seconds=seconds,
        setup_s=setup_s,
        base_rss_mib=base,
        peak_rss_mib=peak,
        added_mib=peak - base,
        peak_reset=reset,
        code=code_fingerprint(),
    )
    print(json.dumps(result), flush=True)


# -- parent: runs and tables ----------------------------------------------------------------
def environment() -> dict[str, str]:
    """Fake credentials and no endpoint: moto intercepts every call in the child."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}
    }
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        SKLAMBDA_MODELS_BUCKET=MODELS_BUCKET,
        SKLAMBDA_DATA_BUCKET=DATA_BUCKET,
        SKLAMBDA_SIGNING_KEY="alias/sklambda-signing",  # sklambda.local.signing
        PYTHONPATH=str(ROOT),
    )
    return env


def measure(variant: str, records: int, env: dict[str, str]) -> dict[str, Any]:
    """One fresh child process running `variant` on `records` capture records."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--size", str(records)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} at {records} records failed:\n{done.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


@dataclass
class Result:
    records: int
    variant: str
    runs: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        return float(statistics.median(r["seconds"] for r in self.runs))

    @property
    def rss(self) -> float:
        return float(max(r["peak_rss_mib"] for r in self.runs))

    @property
    def added(self) -> float:
        return float(max(r["added_mib"] for r in self.runs))

    def row(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "variant": self.variant,
            "runs": len(self.runs),
            "median_s": self.seconds,
            "min_s": min(r["seconds"] for r in self.runs),
            "records_per_s": self.records / self.seconds,
            "peak_rss_mib": self.rss,
            "added_mib": self.added,
            "base_rss_mib": max(r["base_rss_mib"] for r in self.runs),
        }


def run_all(sizes: list[int], repeats: int, variants: list[str]) -> list[Result]:
    """Every (size, variant) `repeats` times, the variants' order rotating in each repeat."""
    env = environment()
    results: list[Result] = []
    for records in sizes:
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for repeat in range(repeats):
            shift = repeat % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                measured = measure(variant, records, env)
                runs[variant].append(measured)
                print(
                    f"  {records:>9,} {variant:<9} run {repeat + 1}: "
                    f"{measured['seconds']:7.2f} s, peak RSS {measured['peak_rss_mib']:7.1f} MiB "
                    f"(+{measured['added_mib']:.1f}), setup {measured['setup_s']:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if not measured["peak_reset"]:
                    print("  (VmHWM could not be reset: peak includes setup)", file=sys.stderr)
        results.extend(Result(records, v, r) for v, r in runs.items())
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


def ratios(results: list[Result]) -> list[dict[str, Any]]:
    """Per size: sklambda over each baseline, in seconds and in memory."""
    by = {(r.records, r.variant): r for r in results}
    rows = []
    for records in sorted({r.records for r in results}):
        ours, floor = by[(records, "sklambda")], by[(records, "read_only")]
        naive = by.get((records, "pandas"))
        rows.append(
            {
                "records": records,
                "s_vs_read_only": ours.seconds / floor.seconds,
                "s_vs_pandas": ours.seconds / naive.seconds if naive else None,
                "peak_vs_pandas": ours.rss / naive.rss if naive else None,
                "added_vs_pandas": ours.added / naive.added if naive and naive.added else None,
            }
        )
    return rows


def report(results: list[Result]) -> None:
    columns = ["records", "variant", "runs", "median_s", "min_s", "records_per_s"]
    columns += ["peak_rss_mib", "added_mib", "base_rss_mib"]
    print("\nscheduled monitor over capture on moto S3, one fresh process per run")
    print("(median seconds; highest peak RSS of the timed part, VmHWM reset before the timer)")
    print(table([r.row() for r in results], columns))
    print("  base_rss_mib: RSS when the timer starts (moto's copy of the capture, the model, ...)")
    print("  added_mib: peak RSS over base_rss_mib, the variant's own memory")
    print()
    print("sklambda / baseline (seconds: > 1 is slower; memory: < 1 is leaner)")
    print(
        table(
            ratios(results),
            ["records", "s_vs_read_only", "s_vs_pandas", "peak_vs_pandas", "added_vs_pandas"],
        )
    )
    runs = [r for res in results if res.variant == "sklambda" for r in res.runs]
    states = sorted({f"{r['status']} (accuracy {r['accuracy']})" for r in runs})
    print(
        f"\nsklambda reports: {', '.join(states)}; labels joined per run: "
        f"{sorted({r['joined'] for r in runs})}"
    )
    changed = []
    for variant in dict.fromkeys(r.variant for r in results):
        codes = {run["code"] for r in results if r.variant == variant for run in r.runs}
        if len(codes) > 1:
            changed.append(f"{variant} ({', '.join(sorted(codes))})")
    if changed:
        print(f"WARNING: chalicelib changed between runs of {'; '.join(changed)}")
    else:
        print("chalicelib sources the same in every run of each variant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="100000,500000", help="comma-separated sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.size)
        return
    sizes = sorted(int(s.replace("_", "")) for s in args.records.split(","))
    variants = [v for v in VARIANTS if not (args.no_pandas and v == "pandas")]
    started = time.perf_counter()
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"code: {head or 'unknown'}")
    load = os.getloadavg()
    print(f"load average before the runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    results = run_all(sizes, args.repeats, variants)
    report(results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
