"""A planned version is served by the app with scikit-learn, SciPy and pandas unimportable and
nothing unpickled: a fresh process imports `app` and answers HTTP requests (and, with pandas,
which reading files needs, a batch file) exactly as the pipeline does.

The registry lives in a moto server, so the serving process shares nothing with this one but
S3 and KMS, as a Lambda container shares nothing with the registering laptop.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chalicelib.core import Settings
from chalicelib.registry import ModelCache, open_registry
from chalicelib.storage import AwsClients
from sklambda.local.events import predict_event
from sklambda.local.signing import create_signing_key
from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model
from tests.app.production import json_records
from tests.conftest import DATA_BUCKET, MODELS_BUCKET, REGION, SIGNING_KEY

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("hgb", "logreg")

# Run in the serving process: block the modules, then import the app and serve. Printed: one
# JSON line with each response and the blocked modules that were imported anyway.
SERVE = r"""
import json, pickle, sys
from importlib.abc import MetaPathFinder

BLOCKED = set(sys.argv[1].split(","))

class Blocked(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{fullname} is blocked", name=fullname)
        return None

def refuse(*args, **kwargs):
    raise AssertionError("something was unpickled")

sys.meta_path.insert(0, Blocked())
pickle.load = pickle.loads = refuse
pickle.Unpickler = refuse

import app

class Context:
    aws_request_id = "served-without-sklearn"
    def get_remaining_time_in_millis(self):
        return 900_000

out = {"http": {}, "batch": None}
for name, event in json.loads(sys.argv[2]).items():
    out["http"][name] = app.app(event, Context())
if sys.argv[3]:
    out["batch"] = app.score_batch(json.loads(sys.argv[3]), Context())
out["imported"] = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        yield endpoint
    finally:
        # The server keeps moto's state in this process: leave none for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        server.stop()


@pytest.fixture(scope="module")
def served(moto_server: str) -> Iterator[dict[str, Any]]:
    """Both reference pipelines registered (planned) and promoted in the moto server."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield register_both(moto_server)


def register_both(moto_server: str) -> dict[str, Any]:
    settings = Settings(
        models_bucket=MODELS_BUCKET,
        data_bucket=DATA_BUCKET,
        region=REGION,
        signing_key=SIGNING_KEY,
        endpoint_url=moto_server,
    )
    clients = AwsClients(settings)
    clients.s3.create_bucket(Bucket=MODELS_BUCKET)
    clients.s3.create_bucket(Bucket=DATA_BUCKET)
    create_signing_key(clients.client("kms"), SIGNING_KEY)
    registry = open_registry(clients)
    registry._cache = ModelCache()
    pipelines = {}
    for kind in MODELS:
        pipeline, frame = trained_reference_model(kind, n_rows=1500)
        version = registry.register(f"churn-{kind}", pipeline, frame, TARGET)
        assert version["plan"]["state"] == "planned", version["plan"]
        registry.promote(f"churn-{kind}", version["version"])
        pipelines[kind] = pipeline
    return {"clients": clients, "pipelines": pipelines, "endpoint": moto_server}


def serve(endpoint: str, blocked: list[str], events: dict[str, Any], batch: Any) -> Any:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "SKLAMBDA_MODELS_BUCKET": MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": DATA_BUCKET,
        "SKLAMBDA_SIGNING_KEY": SIGNING_KEY,
        "SKLAMBDA_API_AUTH": "none",
        "PYTHONPATH": str(ROOT),
    }
    args = [",".join(blocked), json.dumps(events), json.dumps(batch) if batch else ""]
    done = subprocess.run(
        [sys.executable, "-c", SERVE, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch_event(key: str, size: int) -> dict[str, Any]:
    """The SQS message the batch function receives for an object S3 announced."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": DATA_BUCKET},
            "object": {"key": key, "size": size, "sequencer": "0A1"},
        },
    }
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "h-1",
                "body": json.dumps({"Records": [record]}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "eventSource": "aws:sqs",
            }
        ]
    }


def fresh_rows() -> pd.DataFrame:
    """Rows as an analyst's CSV file gives them, missing values included."""
    frame = churn_frame(40, seed=99)[FEATURES]
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def test_planned_versions_serve_http_without_sklearn_scipy_pandas_or_unpickling(
    served: dict[str, Any],
) -> None:
    fresh = fresh_rows()
    body = json.dumps({"records": json_records(fresh)})
    events = {kind: predict_event(f"churn-{kind}", body) for kind in MODELS}

    out = serve(served["endpoint"], ["sklearn", "scipy", "pandas", "joblib"], events, None)

    assert out["imported"] == []
    for kind, response in out["http"].items():
        assert response["statusCode"] == 200, response["body"]
        body = json.loads(response["body"])
        pipeline = served["pipelines"][kind]
        assert body["predictions"] == pipeline.predict(fresh).tolist()
        classes = [str(c) for c in pipeline.classes_]
        proba = [[p[c] for c in classes] for p in body["probabilities"]]
        assert proba == pipeline.predict_proba(fresh).tolist()  # the same floats


def test_a_planned_version_scores_a_batch_file_without_sklearn_scipy_or_unpickling(
    served: dict[str, Any],
) -> None:
    fresh = fresh_rows()
    body = fresh.to_csv(index=False).encode()
    key = "batch/incoming/churn-hgb/fresh.csv"
    served["clients"].s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)

    out = serve(served["endpoint"], ["sklearn", "scipy", "joblib"], {}, batch_event(key, len(body)))

    assert out["imported"] == []
    assert out["batch"] == {"batchItemFailures": []}
    s3 = served["clients"].s3
    scored = s3.get_object(Bucket=DATA_BUCKET, Key="batch/scored/churn-hgb/fresh.csv")
    results = pd.read_csv(scored["Body"])
    pipeline = served["pipelines"]["hgb"]
    assert results["prediction"].tolist() == pipeline.predict(fresh).tolist()
    expected = pipeline.predict_proba(fresh)
    for i, label in enumerate(pipeline.classes_):
        np.testing.assert_array_equal(results[f"proba_{label}"].to_numpy(), expected[:, i])
