"""What verifying a version's signature costs a cold container, two ways.

    .venv/bin/python bench/bench_signing.py [--runs 15]

Each run is a fresh process against (moto) S3 and KMS on 127.0.0.1 that imports the app's
registry, makes the S3 client as any cold start does, then times the steps of each way:

  public key   (chosen) kms client + GetPublicKey once per container, then per load: GET
               signature.json + RSA verify in plain Python (no KMS call)
  kms verify   kms client, then per load: GET signature.json + KMS Verify

and the whole verified load of the model (HistGradientBoosting pipeline), for scale. Loads are
cached per container, so a warm request pays nothing for either. moto answers on loopback: a
KMS call inside an AWS region adds a few milliseconds of network per call on top, which the
public-key way pays once per container and the KMS-Verify way once per loaded version.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_http import MODELS_BUCKET, environment, table  # noqa: E402

MODEL = "churn-hgb"

COLD = """
import json, sys, time
from chalicelib.storage import default_clients
from chalicelib.registry import open_registry
from chalicelib.registry._manifest import signed_parts

def timed(step):
    started = time.perf_counter()
    value = step()
    return value, (time.perf_counter() - started) * 1000

clients = default_clients()
clients.s3.list_objects_v2(Bucket="bench-models", MaxKeys=1)  # every cold start makes this
registry = open_registry(clients)
key = registry._signatures.key()
store = registry._store
name, version = sys.argv[1], 1
signature_key = f"models/{name}/versions/{version}/signature.json"
kms, ms_client = timed(lambda: clients.client("kms"))
_, ms_public = timed(key.public_key)
document, ms_get = timed(lambda: store.get_json(signature_key)[0])
manifest, signature = signed_parts(document, name)
_, ms_local = timed(lambda: key.verify(manifest, signature, name))
_, ms_kms = timed(lambda: kms.verify(
    KeyId=key.key_id, Message=manifest, MessageType="RAW", Signature=signature,
    SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"))
_, ms_load = timed(lambda: registry.load(name, version))
print(json.dumps({"client": ms_client, "public_key": ms_public, "get_signature": ms_get,
                  "local_verify": ms_local, "kms_verify": ms_kms, "load": ms_load}))
"""


def setup(endpoint: str) -> None:
    from chalicelib.core import reset_settings
    from chalicelib.registry import open_registry
    from chalicelib.storage import default_clients
    from sklambda.local.signing import create_signing_key
    from sklambda.sample_data import TARGET, trained_reference_model

    reset_settings()
    clients = default_clients()
    clients.reset()
    clients.s3.create_bucket(Bucket=MODELS_BUCKET)
    create_signing_key(clients.client("kms"))
    model, frame = trained_reference_model("hgb", n_rows=5000)
    open_registry(clients).register(MODEL, model, frame, TARGET)


def cold_runs(runs: int, endpoint: str) -> list[dict[str, float]]:
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", COLD, MODEL],
            env=environment(endpoint),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return samples


def summary(samples: list[dict[str, float]]) -> list[dict[str, Any]]:
    def median(*steps: str) -> float:
        return statistics.median(sum(s[step] for step in steps) for s in samples)

    load = median("load")
    rows = [
        {
            "way": "public key (chosen)",
            "once_per_container_ms": median("client", "public_key"),
            "per_loaded_version_ms": median("get_signature", "local_verify"),
        },
        {
            "way": "kms verify",
            "once_per_container_ms": median("client"),
            "per_loaded_version_ms": median("get_signature", "kms_verify"),
        },
    ]
    for row in rows:
        row["first_version_ms"] = row["once_per_container_ms"] + row["per_loaded_version_ms"]
        row["x_verified_load"] = row["first_version_ms"] / load
    rows.append({"way": "verified load (for scale)", "first_version_ms": load})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--port", type=int, default=45673)
    args = parser.parse_args()

    from bench.bench_package import moto_server

    with moto_server(args.port) as endpoint:
        os.environ.update(environment(endpoint))
        setup(endpoint)
        samples = cold_runs(args.runs, endpoint)
    print(f"cold containers, medians of {args.runs} fresh processes (ms)")
    columns = [
        "way",
        "once_per_container_ms",
        "per_loaded_version_ms",
        "first_version_ms",
        "x_verified_load",
    ]
    print(table(summary(samples), columns))
    steps = {step: statistics.median(s[step] for s in samples) for step in samples[0]}
    print("steps (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))


if __name__ == "__main__":
    main()
