"""The embedded AWS for working locally: moto's server in this process, with the buckets made.

`sklambda up` starts it, registers and promotes a demo model, prints the lines that point the
AWS CLI and sklambda at it, and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.aws import AwsClients
from chalicelib.config import Settings

LOCAL_MODELS_BUCKET = "sklambda-models-local"
LOCAL_DATA_BUCKET = "sklambda-data-local"
LOCAL_REGION = "us-east-1"
DEMO_MODEL = "churn"


def local_environment(aws_port: int) -> dict[str, str]:
    """The environment that points AWS clients and sklambda at the embedded AWS."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "SKLAMBDA_MODELS_BUCKET": LOCAL_MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": LOCAL_DATA_BUCKET,
    }


@contextmanager
def embedded_aws(port: int) -> Iterator[AwsClients]:
    """moto's server on 127.0.0.1:`port` with the sklambda buckets; yields clients for it."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        environment = local_environment(port)
        os.environ.update(environment)
        clients = AwsClients(Settings.from_env(environment))
        for bucket in (LOCAL_MODELS_BUCKET, LOCAL_DATA_BUCKET):
            clients.s3.create_bucket(Bucket=bucket)
        yield clients
    finally:
        server.stop()


def register_demo_model(clients: AwsClients) -> dict[str, Any]:
    """Train the reference churn pipeline, register it and promote it to champion."""
    from chalicelib.registry import open_registry
    from chalicelib.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model

    model, frame = trained_reference_model("hgb", n_rows=5000)
    registry = open_registry(clients)
    holdout = churn_frame(2000, seed=99)
    metadata = registry.register(
        DEMO_MODEL,
        model,
        frame,
        TARGET,
        metrics={"accuracy": float(model.score(holdout[FEATURES], holdout[TARGET]))},
        description="demo churn model (generated data)",
        tags={"origin": "sklambda up"},
    )
    registry.promote(DEMO_MODEL, metadata["version"], reason="demo model of the local stack")
    return metadata


def run_local_stack(aws_port: int = 4566, with_demo: bool = True) -> None:
    """Serve the embedded AWS until interrupted."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with embedded_aws(aws_port) as clients:
        environment = local_environment(aws_port)
        print(f"embedded AWS listening on {environment['AWS_ENDPOINT_URL']}", flush=True)
        if with_demo:
            print("training and registering the demo model 'churn'…", flush=True)
            metadata = register_demo_model(clients)
            print(
                f"registered churn version {metadata['version']} and promoted it to champion",
                flush=True,
            )
        print("\nIn another shell:\n")
        for key, value in environment.items():
            print(f"  export {key}={value}")
        print(
            "\n  sklambda models --output table\n"
            f"  sklambda describe {DEMO_MODEL} --output table\n"
            f"  sklambda history {DEMO_MODEL} --output table\n"
            f"  aws s3 ls s3://{LOCAL_MODELS_BUCKET}/ --recursive\n"
            "\nPress Ctrl-C to stop.",
            flush=True,
        )
        stop.wait()
    print("stopped", flush=True)
