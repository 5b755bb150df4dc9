"""`sklambda up` as a user runs it: a real process on free ports, driven over the network."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import joblib
import pandas as pd
import pytest

from chalicelib.batch import decode_event_key
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.models import fitted_logreg, training_frame

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    def __init__(self, process: subprocess.Popen[str], api: str, env: dict[str, str]) -> None:
        self.process = process
        self.api = api
        self.env = env

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def cli(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sklambda.cli", *argv],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            # Generous: the demo registers, scores and monitors; a shared machine can be slow.
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    api_port, aws_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SKLAMBDA_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SKLAMBDA_MODELS_BUCKET": "sklambda-models-local",
            "SKLAMBDA_DATA_BUCKET": "sklambda-data-local",
            "SKLAMBDA_SIGNING_KEY": "alias/sklambda-signing",
            "PYTHONPATH": str(ROOT),
        }
    )
    process = subprocess.Popen(
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
            "--monitor-every",
            "2s",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"sklambda up did not come up:\n{process.stdout.read() if process.stdout else ''}"
            )
        time.sleep(0.3)
    yield Stack(process, api, env)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def post_json(url: str, body: Any) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_for(get: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def manifest_of(s3: Any, key: str) -> Any:
    try:
        return json.loads(s3.get_object(Bucket="sklambda-data-local", Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def retrained(s3: Any) -> Any:
    """The lineage of the first retrained version of churn in the local registry, if any."""
    listed = s3.list_objects_v2(Bucket="sklambda-models-local", Prefix="models/churn/versions/")
    for item in listed.get("Contents", []):
        if item["Key"].endswith("/metadata.json"):
            body = s3.get_object(Bucket="sklambda-models-local", Key=item["Key"])["Body"].read()
            lineage = json.loads(body).get("retraining")
            if lineage:
                return lineage
    return None


def test_the_local_stack_has_a_signing_key_under_the_alias_it_exports(stack: Stack) -> None:
    key = stack.client("kms").describe_key(KeyId=stack.env["SKLAMBDA_SIGNING_KEY"])
    assert key["KeyMetadata"]["KeySpec"] == "RSA_3072"
    assert key["KeyMetadata"]["KeyUsage"] == "SIGN_VERIFY"


def test_the_signing_key_is_made_with_the_other_resources_and_exported_by_alias() -> None:
    from moto import mock_aws

    from chalicelib.core import Settings
    from chalicelib.storage import AwsClients
    from sklambda.local.stack import create_resources, local_environment

    settings = Settings(models_bucket="local-models", data_bucket="local-data", region="us-east-1")
    with mock_aws():
        clients = AwsClients(settings)
        made = create_resources(clients)
        alias = local_environment(4566)["SKLAMBDA_SIGNING_KEY"]
        key = clients.client("kms").describe_key(KeyId=alias)["KeyMetadata"]
        retrain_queue = local_environment(4566)["SKLAMBDA_RETRAIN_QUEUE"]
        looked_up = clients.client("sqs").get_queue_url(QueueName=retrain_queue)["QueueUrl"]

    assert looked_up == made.retrain_queue_url  # where the local monitor sends its requests

    assert alias == "alias/sklambda-signing"  # moto's key ids are random; the alias is known
    assert key["Arn"] == made.signing_key_arn
    assert (key["KeySpec"], key["KeyUsage"]) == ("RSA_3072", "SIGN_VERIFY")


def test_the_local_data_bucket_tells_the_aggregate_queue_what_the_monitor_aggregates() -> None:
    from moto import mock_aws

    from chalicelib.core import Settings
    from chalicelib.storage import AwsClients
    from sklambda.infra.resources import AGGREGATE_MAX_RECEIVES
    from sklambda.local.stack import create_resources, local_environment

    settings = Settings(models_bucket="local-models", data_bucket="local-data", region="us-east-1")
    with mock_aws():
        clients = AwsClients(settings)
        made = create_resources(clients)
        sqs, s3 = clients.client("sqs"), clients.s3
        name = local_environment(4566)["SKLAMBDA_AGGREGATE_QUEUE"]
        looked_up = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=made.aggregate_queue_url, AttributeNames=["All"]
        )["Attributes"]
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=made.aggregate_dlq_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        configured = s3.get_bucket_notification_configuration(Bucket="local-data")
        for url in (made.queue_url, made.aggregate_queue_url):
            sqs.purge_queue(QueueUrl=url)  # the test event S3 sends when a notification is set
        for key in (
            "capture/2026/12/02/10/sklambda-capture-1-2026-12-02-10-00-00-abc",
            "feedback/churn/f.jsonl",
            "batch/scored/churn/d.csv.manifest.json",
            "batch/scored/churn/d.csv",
            "batch/incoming/churn/d.csv",
            "reports/_partials/churn/1/x.json",
        ):
            s3.put_object(Bucket="local-data", Key=key, Body=b"a\n")

        def landed(url: str) -> list[str]:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            records = [r for m in messages for r in json.loads(m["Body"])["Records"]]
            return sorted(decode_event_key(r["s3"]["object"]["key"]) for r in records)

        aggregated, batched = landed(made.aggregate_queue_url), landed(made.queue_url)

    assert name == "sklambda-aggregate" and looked_up == made.aggregate_queue_url
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == AGGREGATE_MAX_RECEIVES
    rules = sorted(
        (
            c["QueueArn"].rsplit(":", 1)[1],
            [(r["Name"], r["Value"]) for r in c["Filter"]["Key"]["FilterRules"]],
        )
        for c in configured["QueueConfigurations"]
    )
    assert [(queue, sorted(r)) for queue, r in rules] == [
        ("sklambda-aggregate", [("prefix", "batch/scored/"), ("suffix", ".manifest.json")]),
        ("sklambda-aggregate", [("prefix", "capture/")]),
        ("sklambda-aggregate", [("prefix", "feedback/")]),
        ("sklambda-batch", [("prefix", "batch/incoming/")]),
    ]
    assert aggregated == [
        "batch/scored/churn/d.csv.manifest.json",
        "capture/2026/12/02/10/sklambda-capture-1-2026-12-02-10-00-00-abc",
        "feedback/churn/f.jsonl",
    ]
    assert batched == ["batch/incoming/churn/d.csv"]


def test_a_firehose_delivery_of_the_local_capture_reaches_the_aggregate_queue() -> None:
    from moto import mock_aws

    from chalicelib.core import Settings
    from chalicelib.storage import AwsClients
    from sklambda.local.stack import LOCAL_STREAM, create_resources

    settings = Settings(models_bucket="local-models", data_bucket="local-data", region="us-east-1")
    with mock_aws():
        clients = AwsClients(settings)
        made = create_resources(clients)
        sqs = clients.client("sqs")
        sqs.purge_queue(QueueUrl=made.aggregate_queue_url)
        clients.client("firehose").put_record(
            DeliveryStreamName=LOCAL_STREAM, Record={"Data": b'{"model": "churn"}\n'}
        )
        messages = sqs.receive_message(
            QueueUrl=made.aggregate_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])

    records = [r for m in messages for r in json.loads(m["Body"])["Records"]]
    keys = [decode_event_key(r["s3"]["object"]["key"]) for r in records]
    assert len(keys) == 1 and keys[0].startswith("capture/")


@pytest.mark.parametrize(
    ("method", "path", "content_type", "status", "code"),
    [
        ("GET", "/no/such/route", None, 403, "UnknownRoute"),
        ("GET", "/models/churn/predict", None, 405, "MethodNotAllowedError"),
        ("POST", "/models/churn/predict", "text/plain", 415, "UnsupportedMediaType"),
    ],
)
def test_the_local_server_s_own_errors_have_the_api_s_error_shape(
    stack: Stack, method: str, path: str, content_type: str | None, status: int, code: str
) -> None:
    # Before the whole-system test below, which stops the stack.
    request = urllib.request.Request(
        f"{stack.api}{path}",
        data=b"a,b\n1,2\n" if method == "POST" else None,
        method=method,
        headers={"Content-Type": content_type} if content_type else {},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == status
    assert caught.value.headers["Content-Type"] == "application/json"
    body = json.loads(caught.value.read())
    assert list(body) == ["error", "message", "request_id"]
    assert body["error"] == code and body["message"]
    assert body["request_id"] not in ("", "-")


def test_the_whole_system_runs_locally_and_stops_cleanly(stack: Stack, tmp_path: Path) -> None:
    model_file, train_file = tmp_path / "model.joblib", tmp_path / "train.csv"
    joblib.dump(fitted_logreg(), model_file)
    training_frame().to_csv(train_file, index=False)
    registered = stack.cli(
        "register", "churn", str(model_file), "--train-data", str(train_file), "--target", TARGET
    )
    assert registered.returncode == 0, registered.stderr
    assert stack.cli("promote", "churn", "1").returncode == 0

    record = churn_frame(1, seed=4, with_target=False)[FEATURES]
    row = json.loads(record.to_json(orient="records"))[0]
    body = post_json(f"{stack.api}/models/churn/predict", {"records": [row]})
    assert body["model"] == {"name": "churn", "version": 1, "alias": "champion"}
    assert 0.0 <= body["probabilities"][0]["1"] <= 1.0

    s3 = stack.client("s3")
    frame = churn_frame(150, seed=8, with_target=False)
    s3.put_object(
        Bucket="sklambda-data-local",
        Key="batch/incoming/churn/by-boto3.csv",
        Body=frame.to_csv(index=False).encode(),
    )
    manifest = wait_for(lambda: manifest_of(s3, "batch/scored/churn/by-boto3.csv.manifest.json"))
    assert manifest["status"] == "succeeded" and manifest["rows"]["scored"] == 150
    scored = pd.read_csv(
        io.BytesIO(
            s3.get_object(Bucket="sklambda-data-local", Key="batch/scored/churn/by-boto3.csv")[
                "Body"
            ].read()
        )
    )
    assert len(scored) == 150 and "proba_1" in scored.columns

    port = stack.api.rsplit(":", 1)[1]
    aws_port = stack.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
    # The README's first hour, in order: the demo, then the AWS CLI pointed here by `--env`.
    demo = stack.cli("demo", "--api-port", port, "--aws-port", aws_port, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "[7/7] done" in demo.stdout and "rows scored" in demo.stdout
    assert "churn probability" in demo.stdout
    assert "over a drift threshold: " in demo.stdout and "/models/churn/report" in demo.stdout
    assert "version 2:" in demo.stdout and "(drift flagged)" in demo.stdout
    assert "promote churn 1 --alias canary" in demo.stdout  # another version than champion 2
    with urllib.request.urlopen(f"{stack.api}/models/churn/report?format=json") as answer:
        latest = json.loads(answer.read())
    assert [v["drift_detected"] for v in latest["versions"] if v["version"] == 2] == [True]
    customers = pd.read_csv(tmp_path / "customers.csv")
    assert len(customers) == 5000 and "churned" not in customers.columns

    exported = stack.cli("up", "--env", "--aws-port", aws_port)
    assert exported.returncode == 0, exported.stderr
    env = dict(os.environ)
    for line in exported.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    assert env["AWS_ENDPOINT_URL"] == stack.env["AWS_ENDPOINT_URL"]
    aws = Path(sys.executable).with_name("aws")  # the local extra's AWS CLI
    copied = subprocess.run(
        [str(aws), "s3", "cp", "customers.csv", "s3://sklambda-data-local/batch/incoming/churn/"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    copied_manifest = "batch/scored/churn/customers.csv.manifest.json"
    assert wait_for(lambda: manifest_of(s3, copied_manifest))["rows"]["scored"] == 5000

    # The scheduled monitor runs on its own too, and its report is served over HTTP.
    with urllib.request.urlopen(f"{stack.api}/models/churn/report", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"<svg" in response.read()

    cloudwatch = stack.client("cloudwatch")

    def scored_records() -> float:
        now = time.time()
        result = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "r",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "sklambda",
                            "MetricName": "RecordsScored",
                            "Dimensions": [
                                {"Name": "Model", "Value": "churn"},
                                {"Name": "Version", "Value": "1"},
                                {"Name": "Consumer", "Value": "anonymous"},
                            ],
                        },
                        "Period": 60,
                        "Stat": "Sum",
                    },
                }
            ],
            StartTime=now - 3600,
            EndTime=now + 60,
        )
        return sum(result["MetricDataResults"][0]["Values"])

    assert wait_for(scored_records) >= 1

    # A due retrain: the scheduled monitor asks, the retraining function's poller retrains.
    training = churn_frame(600, seed=9)[[*FEATURES, TARGET]]
    s3.put_object(
        Bucket="sklambda-data-local",
        Key="training/churn/fresh.csv",
        Body=training.to_csv(index=False).encode(),
    )
    policy = stack.cli("policy", "churn", "--every-days", "0.000001", "--action", "register")
    assert policy.returncode == 0, policy.stderr
    lineage = wait_for(lambda: retrained(s3), timeout=180)
    assert lineage["trigger"] == "monitor" and lineage["files"] == ["training/churn/fresh.csv"]

    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=30) == 0
    output = stack.process.stdout.read() if stack.process.stdout else ""
    assert "stopped" in output
    assert "delivered" in output  # each event it hands over is logged
    assert "[schedule] firing monitor_models" in output
    assert "[retrain] delivered 1 message(s) from sklambda-retrain to retrain_model" in output
    # The scored files' manifests (and feedback, capture) went to the aggregating function.
    assert "from sklambda-aggregate to aggregate_arrivals" in output
    children = subprocess.run(
        ["pgrep", "-P", str(stack.process.pid)], capture_output=True, text=True, check=False
    )
    assert children.stdout.strip() == ""


def test_up_refuses_a_port_that_is_taken_and_names_the_option(capsys) -> None:
    from sklambda.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["up", "--api-port", str(port), "--aws-port", str(free_port()), "--no-demo"])

    assert code == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "--api-port" in err


def test_up_env_prints_the_exports_a_shell_evals_without_starting_anything(capsys) -> None:
    from sklambda.cli import main

    code = main(["up", "--env", "--aws-port", "4999"])

    assert code in (0, None)
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith("export ") for line in lines)
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert exported["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4999"
    assert exported["SKLAMBDA_DATA_BUCKET"] == "sklambda-data-local"
    assert exported["SKLAMBDA_SIGNING_KEY"] == "alias/sklambda-signing"
