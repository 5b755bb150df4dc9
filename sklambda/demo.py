"""`sklambda demo`: the tour, against a running `sklambda up` (started if none answers).

Generates a churn-like dataset, trains and registers a model, promotes it, scores records over
HTTP, drops a batch file and waits for its manifest, then sends drifted traffic and feedback,
runs the monitor, saying what it does as it goes and ending with what to open next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chalicelib.core import SklambdaError

MODEL = "churn"


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/7] {text}", flush=True)


def _healthy(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def ensure_stack(api: str, api_port: int, aws_port: int) -> str | None:
    """Start `sklambda up` in the background unless one answers; its log file, if started."""
    if _healthy(api):
        return None
    log = Path(tempfile.gettempdir()) / "sklambda-up.log"
    print(f"no local stack at {api}; starting `sklambda up` (log: {log})…", flush=True)
    with log.open("w") as out:
        subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "sklambda.cli",
                "up",
                "--api-port",
                str(api_port),
                "--aws-port",
                str(aws_port),
                "--no-demo",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while not _healthy(api):
        if time.monotonic() > deadline:
            raise SklambdaError(f"the local stack did not start; see {log}")
        time.sleep(0.5)
    return str(log)


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _records(frame: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))  # NaN → null, numpy → plain


def _monitor_until_flagged(
    clients: Any, registry: Any, version: int, needed: int
) -> dict[str, Any] | None:
    """Run the monitor until the demo's version is flagged (at most `needed` runs, each a
    distinct event, as the schedule's would be), saying what each run saw; the last report."""
    from chalicelib.monitoring import MonitorRun
    from chalicelib.services import monitor

    service = monitor(clients, registry)
    report = None
    for number in range(1, needed + 1):
        outcome = service.run([MODEL], MonitorRun.on_demand(clients.settings.monitor_window_hours))
        if outcome["models"][MODEL]["status"] != "done":
            print(f"  the monitor did not finish: {outcome['models'][MODEL].get('reason')}")
            return None
        report = service.latest_report(MODEL, missing_ok=True)
        if report is None:
            return None
        entry = next(v for v in report["versions"] if v["version"] == version)
        breached = [f["name"] for f in entry["features"] if f["breached"]]
        quality = entry["quality"]["metrics"]
        in_a_row = max((int(f.get("consecutive") or 0) for f in entry["features"]), default=0)
        verdict = (
            "drift flagged"
            if entry["drift_detected"]
            else f"{in_a_row} of {needed} breaching runs in a row"
        )
        print(
            f"  run {number}: version {version}: {entry['traffic']['total']:,} records, "
            f"over a drift threshold: {', '.join(breached) or 'none'} ({verdict}); "
            f"accuracy on {entry['quality']['labelled']} labels: "
            f"{quality.get('accuracy', float('nan')):.3f}"
        )
        if entry["drift_detected"]:
            break
    return report


def run_demo(api: str, api_port: int, aws_port: int) -> dict[str, Any]:
    """Run the tour; a summary of what was made."""
    from chalicelib.batch import BatchLayout
    from chalicelib.core import Settings
    from chalicelib.registry import open_registry
    from chalicelib.storage import AwsClients
    from sklambda.batch_client import BatchClient, ProgressBar, incoming_key
    from sklambda.local.stack import local_environment
    from sklambda.sample_data import (
        FEATURES,
        ID_COLUMN,
        TARGET,
        churn_frame,
        reference_pipeline,
    )

    started = ensure_stack(api, api_port, aws_port)
    os.environ.update(local_environment(aws_port))
    clients = AwsClients(Settings.from_env())
    registry = open_registry(clients)

    _step(1, "generating a churn-like dataset (20 numbers and categories, 8,000 customers)")
    train = churn_frame(8000, seed=21)
    holdout = churn_frame(2000, seed=22)

    _step(2, "training a pipeline (scaler + one-hot + gradient boosting) and registering it")
    model = reference_pipeline("hgb").fit(train[FEATURES], train[TARGET])
    accuracy = float(model.score(holdout[FEATURES], holdout[TARGET]))
    metadata = registry.register(
        MODEL,
        model,
        train,
        TARGET,
        metrics={"accuracy": accuracy},
        description="sklambda demo",
        tags={"origin": "sklambda demo"},
    )
    version = metadata["version"]
    registry.promote(MODEL, version, reason="sklambda demo")
    print(
        f"  registered {MODEL} version {version} (holdout accuracy {accuracy:.3f}), "
        "promoted to champion"
    )

    # Requests name the version: the API caches aliases for 30 s, so "the champion" could
    # still mean the previous one for a while after a promotion.
    predict = f"{api}/models/{MODEL}/predict?version={version}"
    _step(3, f"scoring three customers over HTTP (version {version})")
    customers = churn_frame(3, seed=23, with_target=False)
    answer = _post(predict, {"records": _records(customers[FEATURES])})
    for cid, proba in zip(customers[ID_COLUMN], answer["probabilities"], strict=True):
        print(f"  {cid}: churn probability {proba['1']:.2f}")

    _step(4, "dropping a batch file of 5,000 customers and waiting for its manifest")
    settings = clients.settings
    layout = BatchLayout.from_settings(settings)
    batch = BatchClient(clients.s3, settings.require_data_bucket(), layout)
    path = Path("customers.csv")  # left here for the README's `aws s3 cp customers.csv ...`
    if path.exists():
        print(f"  {path} exists; leaving it as it is and uploading a copy of the demo's")
        path = Path(tempfile.mkdtemp()) / "customers.csv"
    churn_frame(5000, seed=24, with_target=False).to_csv(path, index=False)
    uploaded = batch.upload(path, incoming_key(layout, MODEL, "demo/customers.csv", None))
    bar = ProgressBar(out=sys.stdout)
    manifest = batch.wait(
        uploaded,
        timeout=300,
        on_progress=lambda p: bar.show(p["state"], None, f"{p.get('rows_read', 0):,} rows"),
    )
    bar.show("done", 1.0, manifest["status"])
    bar.finish()
    scored = manifest["outputs"]["scored"]
    where = f"s3://{settings.data_bucket}/{scored['key']}" if scored else manifest.get("reason")
    print(
        f"  {manifest['rows']['scored']:,} rows scored in {manifest['duration_seconds']} s "
        f"→ {where}"
    )

    _step(5, "sending drifted traffic (higher charges, longer tenure, a new region) and labels")
    drifted = churn_frame(2000, seed=25, shift=1.5)
    drifted.loc[drifted.index[::4], "region"] = "arctic"  # a region the model never saw
    feedback = []
    for start in range(0, len(drifted), 100):
        rows = drifted.iloc[start : start + 100]
        scored = _post(predict, {"records": _records(rows[FEATURES])})
        feedback += [
            {"prediction_id": pid, "actual": int(actual)}
            for pid, actual in zip(scored["prediction_ids"], rows[TARGET], strict=True)
        ]
    _post(f"{api}/models/{MODEL}/feedback", feedback)
    print(f"  {len(drifted):,} drifted records scored and captured, {len(feedback):,} labels sent")

    from chalicelib.stats import DriftThresholds

    needed = DriftThresholds.from_dict(
        registry.get_config(MODEL).drift_thresholds
    ).consecutive_breaches
    _step(
        6,
        f"running the monitor {needed} times, as {needed} scheduled runs would: a feature "
        f"counts as drifted once it breaches its threshold {needed} runs in a row (on its "
        f"own, `sklambda up` runs it every --monitor-every, 60 s by default: about "
        f"{needed} minutes)",
    )
    report = _monitor_until_flagged(clients, registry, version, needed)
    if report is not None:
        print(f"  report: {api}/models/{MODEL}/report  (open it in a browser)")

    _step(7, "done")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    # A canary is another version than the champion (which the demo's version now is).
    canary_tip = (
        f"sklambda promote {MODEL} {version - 1} --alias canary --weight 0.2   "
        f"# version {version - 1} takes 20 % beside champion {version}"
        if version > 1
        else f"sklambda register {MODEL} ... then: sklambda promote {MODEL} 2 --alias canary"
    )
    print(f"""
Open and try next:
  {api}/models/{MODEL}/report   (in a browser: the monitor's report)
  curl -s {api}/models/{MODEL}   (metadata, input schema, aliases)
  sklambda monitor {MODEL} --output table
  sklambda history {MODEL} --output table
  {canary_tip}
  eval "$(sklambda up --env --aws-port {aws_port})"   # then the AWS CLI talks to this stack:
  aws s3 cp customers.csv s3://{settings.data_bucket}/batch/incoming/{MODEL}/
  aws s3 ls s3://{settings.data_bucket}/ --recursive
  aws cloudwatch list-metrics --namespace sklambda
(AWS CLI: installed with sklambda's local extra; endpoint {endpoint})""")
    if started:
        print(
            f"\nThe local stack keeps running in the background (log: {started}); "
            "stop it with: pkill -f 'sklambda.cli up'"
        )
    return {
        "model": MODEL,
        "version": version,
        "batch": manifest["status"],
        "drifted_records": len(drifted),
    }
