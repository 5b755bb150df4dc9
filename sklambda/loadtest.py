"""A bounded load test of a deployed stage: single-record prediction requests at a steady
rate for a few seconds, with latency percentiles and errors by status. Standard library only
(threads and urllib), so it runs wherever the CLI does.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import InvalidInputError
from chalicelib.scoring._benchmark import percentile

MAX_REQUESTS = 10_000  # rps × duration; a load test, not a way to flood a stage
MAX_THREADS = 64
TIMEOUT_SECONDS = 30.0


def check_bounds(rps: float, duration: float) -> int:
    """How many requests `rps` for `duration` seconds sends; InvalidInputError when unbounded."""
    if rps <= 0 or duration <= 0:
        raise InvalidInputError(
            f"--rps and --duration must be positive, got {rps:g} and {duration:g}"
        )
    total = int(round(rps * duration))
    if total > MAX_REQUESTS:
        raise InvalidInputError(
            f"--rps {rps:g} for --duration {duration:g} s is {total:,} requests, over the limit "
            f"of {MAX_REQUESTS:,} per run; lower the rate or the duration"
        )
    return max(total, 1)


def load_test(
    url: str,
    records: Sequence[Mapping[str, Any]],
    *,
    rps: float,
    duration: float,
    api_key: str | None = None,
) -> dict[str, Any]:
    """POST one record per request to `url` at `rps` for `duration` seconds (open loop: a
    slow answer does not slow the schedule); latency percentiles, achieved rate, errors."""
    total = check_bounds(rps, duration)
    if not records:
        raise InvalidInputError("no records to send")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    bodies = [json.dumps({"records": [dict(r)]}).encode() for r in records]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def send(i: int) -> None:
        request = urllib.request.Request(url, bodies[i % len(bodies)], headers, method="POST")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
                status = str(response.status)
        except urllib.error.HTTPError as answered:
            status = str(answered.code)
        except (urllib.error.URLError, OSError) as failed:
            status = f"no answer ({type(getattr(failed, 'reason', failed)).__name__})"
        elapsed = (time.perf_counter() - start) * 1000.0
        with lock:
            statuses[status] += 1
            if status.startswith("2"):
                latencies.append(elapsed)

    threads = min(MAX_THREADS, max(2, int(rps * 2)))
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i in range(total):
            wait = began + i / rps - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pool.submit(send, i)
    took = time.perf_counter() - began
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "url": url,
        "requests": total,
        "seconds": round(took, 3),
        "achieved_rps": round(total / took, 2) if took else None,
        "ok": ok,
        "errors": total - ok,
        "by_status": dict(sorted(statuses.items())),
        "p50_ms": round(percentile(latencies, 0.50), 3) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 3) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 3) if latencies else None,
    }
