"""The reviewed IAM policies in .chalice/policy-*.json, enforced by moto, against the real code.

Each Lambda function gets an IAM user whose inline policy is its policy file with the
CloudFormation placeholders resolved for a test stack. The app then runs its real paths with
those credentials (the HTTP routes, the SQS batch handler, the scheduled monitor, the retraining
function fed by the monitor's requests), which proves
the policies are enough; direct calls prove they deny what they should.

moto 5.2 evaluates IAM loosely in places, so the policies are adapted for it (`for_moto`) and
`test_moto_gaps_the_adaptation_relies_on` pins each gap, failing once moto closes it:

- S3 and SQS: actions and resources are enforced (SQS by queue ARN, except GetQueueUrl).
- CloudWatch: moto names the action after the signing name, `monitoring:PutMetricData`, so it
  never matches the correct `cloudwatch:PutMetricData` (nor GetMetricData, ListMetrics); and
  conditions are not evaluated at all, so the `cloudwatch:namespace` condition (the monitor's)
  and the `aws:RequestedRegion` one (the API's metric reads) are NOT checked here.
- Firehose, CloudWatch Logs, KMS and sqs:GetQueueUrl: moto checks the action against resource
  "*", so a grant scoped to the stream, log group, key or queue ARN never matches. Only the
  action is checked for them here.
- SQS batch calls are checked as `sqs:SendMessageBatch`/`sqs:DeleteMessageBatch`; IAM
  authorizes them with `sqs:SendMessage`/`sqs:DeleteMessage`.
- S3 answers a missing key with 404 whatever the caller may list; real S3 says 403 unless the
  caller has s3:ListBucket. `test_every_bucket_read_is_listable` checks that statically.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote_plus

import pandas as pd
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.core import AwsAccessError, reset_settings
from chalicelib.registry import ModelCache, Registry, open_registry
from chalicelib.storage import AwsClients, ObjectStore, default_clients
from sklambda.local.events import deliver_once, drain, scheduled_event
from sklambda.local.signing import create_signing_key
from sklambda.sample_data import FEATURES, TARGET, churn_frame
from tests.conftest import DATA_BUCKET, MODELS_BUCKET, REGION
from tests.models import fitted_logreg, training_frame

ACCOUNT = "123456789012"  # moto's default account
STACK = "sklambda-prod"
QUEUE = "sklambda-batch"  # Settings.batch_queue's default
RETRAIN_QUEUE = f"{STACK}-retrain"
AGGREGATE_QUEUE = f"{STACK}-aggregate"
STREAM = f"{STACK}-capture"
OTHER_BUCKET = "test-other"  # a bucket of the account that no function is granted
MODEL = "churn"
POLICIES = Path(__file__).resolve().parents[2] / ".chalice"
FUNCTIONS = ("api", "batch", "monitor", "retrain", "aggregate")
DENIED = {"AccessDenied", "AccessDeniedException", "403"}
# The stack's signing key, for the checks on the documents alone; `Stack` makes a real one.
SIGNING_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b6e6a4c-3f0e-4d8e-9a57-5d1c2e7f9a10"


# -- the policies ------------------------------------------------------------------------------
def resolve_policy(
    function: str,
    *,
    queue_arn: str,
    stream_arn: str,
    signing_key_arn: str = SIGNING_KEY_ARN,
    retrain_queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{RETRAIN_QUEUE}",
    aggregate_queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{AGGREGATE_QUEUE}",
) -> dict[str, Any]:
    """.chalice/policy-<function>.json with its placeholders filled in for the test stack."""
    values = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
        "ModelsBucket": MODELS_BUCKET,
        "DataBucket": DATA_BUCKET,
        "BatchQueue.Arn": queue_arn,
        "RetrainQueue.Arn": retrain_queue_arn,
        "AggregateQueue.Arn": aggregate_queue_arn,
        "CaptureStream.Arn": stream_arn,
        "SigningKey.Arn": signing_key_arn,
    }
    text = (POLICIES / f"policy-{function}.json").read_text()
    unknown = set(re.findall(r"\$\{([^}]+)\}", text)) - set(values)
    assert not unknown, f"policy-{function}.json has placeholders the stack does not resolve"
    return json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], text))


_MOTO_RESOURCE_STAR = ("firehose:", "logs:", "sqs:GetQueueUrl", "kms:")
_MOTO_ALIASES = {
    "cloudwatch:PutMetricData": "monitoring:PutMetricData",
    "cloudwatch:GetMetricData": "monitoring:GetMetricData",
    "cloudwatch:ListMetrics": "monitoring:ListMetrics",
    "sqs:SendMessage": "sqs:SendMessageBatch",
    "sqs:DeleteMessage": "sqs:DeleteMessageBatch",
    "sqs:ChangeMessageVisibility": "sqs:ChangeMessageVisibilityBatch",
}


def for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    """The same grants, spelled the way moto evaluates them (see the module docstring).

    Actions are never added beyond moto's name for a granted action, so removing an action
    from a policy file still removes it here.
    """
    statements = []
    for statement in policy["Statement"]:
        actions = list(statement["Action"])
        actions += [_MOTO_ALIASES[a] for a in actions if a in _MOTO_ALIASES]
        scoped = [a for a in actions if not a.startswith(_MOTO_RESOURCE_STAR)]
        loose = [a for a in actions if a.startswith(_MOTO_RESOURCE_STAR)]
        if scoped:
            statements.append({**statement, "Action": scoped})
        if loose:
            statements.append(
                {**statement, "Sid": f"{statement['Sid']}AnyResource", "Action": loose}
                | {"Resource": "*"}
            )
    return {**policy, "Statement": statements}


# -- the stack ---------------------------------------------------------------------------------
class KeyedClients(AwsClients):
    """The app's client cache, signing with one IAM user's keys whatever the environment says."""

    def __init__(self, keys: dict[str, str]) -> None:
        super().__init__()
        self._keys = keys

    def _create(self, service: str) -> Any:
        with mock.patch.dict(os.environ, self._keys):
            return super()._create(service)


class Stack:
    """Buckets, queue, capture stream, signing key and an IAM user per function, as deployed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        # botocore gzips large PutMetricData bodies; moto checks the signature against the
        # unzipped body and refuses it (SignatureDoesNotMatch). Send them uncompressed.
        monkeypatch.setenv("AWS_DISABLE_REQUEST_COMPRESSION", "true")
        root = AwsClients()  # moto's unauthenticated start: IAM is not enforced yet
        s3, sqs = root.s3, root.client("sqs")
        for bucket in (MODELS_BUCKET, DATA_BUCKET, OTHER_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for bucket in (MODELS_BUCKET, DATA_BUCKET):  # as sklambda/infra/resources.py deploys them
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
        self.queue_url = sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "3"}
                ),
            },
        )["QueueUrl"]
        self.queue_arn = queue_arn(sqs, self.queue_url)
        self.aggregate_queue_url = sqs.create_queue(QueueName=AGGREGATE_QUEUE)["QueueUrl"]
        self.aggregate_queue_arn = queue_arn(sqs, self.aggregate_queue_url)
        monkeypatch.setenv("SKLAMBDA_AGGREGATE_QUEUE", AGGREGATE_QUEUE)

        def notify(queue: str, prefix: str, suffix: str | None = None) -> dict[str, Any]:
            rules = [{"Name": "prefix", "Value": prefix}]
            rules += [{"Name": "suffix", "Value": suffix}] if suffix else []
            return {
                "QueueArn": queue,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": rules}},
            }

        s3.put_bucket_notification_configuration(
            Bucket=DATA_BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    notify(self.queue_arn, "batch/incoming/"),
                    notify(self.aggregate_queue_arn, "capture/"),
                    notify(self.aggregate_queue_arn, "feedback/"),
                    notify(self.aggregate_queue_arn, "batch/scored/", ".manifest.json"),
                ]
            },
        )
        for url in (self.queue_url, self.aggregate_queue_url):
            sqs.purge_queue(QueueUrl=url)  # S3's test event
        self.retrain_queue_url = sqs.create_queue(QueueName=RETRAIN_QUEUE)["QueueUrl"]
        self.retrain_queue_arn = queue_arn(sqs, self.retrain_queue_url)
        # As the stack sets it: the monitor sends by URL, without sqs:GetQueueUrl.
        monkeypatch.setenv("SKLAMBDA_RETRAIN_QUEUE", RETRAIN_QUEUE)
        monkeypatch.setenv("SKLAMBDA_RETRAIN_QUEUE_URL", self.retrain_queue_url)
        self.stream_arn = root.client("firehose").create_delivery_stream(
            DeliveryStreamName=STREAM,
            ExtendedS3DestinationConfiguration={
                "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-firehose",
                "BucketARN": f"arn:aws:s3:::{DATA_BUCKET}",
                "Prefix": "capture/",
            },
        )["DeliveryStreamARN"]
        logs = root.client("logs")
        for function in FUNCTIONS:
            logs.create_log_group(logGroupName=log_group(function))
        self.signing_key_arn = create_signing_key(root.client("kms"), "alias/sklambda-prod-signing")
        monkeypatch.setenv("SKLAMBDA_SIGNING_KEY", self.signing_key_arn)  # as the stack sets it
        reset_settings()

        everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        admin = {"Version": "2012-10-17", "Statement": [everything]}
        self.policies = {
            f: resolve_policy(
                f,
                queue_arn=self.queue_arn,
                stream_arn=self.stream_arn,
                signing_key_arn=self.signing_key_arn,
                retrain_queue_arn=self.retrain_queue_arn,
                aggregate_queue_arn=self.aggregate_queue_arn,
            )
            for f in FUNCTIONS
        }
        self.keys = {"admin": self.user(root, "admin", admin)}
        for function, policy in self.policies.items():
            self.keys[function] = self.user(root, f"{STACK}-{function}", for_moto(policy))
        self._clients: dict[str, KeyedClients] = {}
        self.admin = self.clients("admin")

    @staticmethod
    def user(root: AwsClients, name: str, policy: dict[str, Any]) -> dict[str, str]:
        iam = root.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    def clients(self, who: str) -> KeyedClients:
        """Clients signing as `who` (for direct calls), one cache per caller."""
        if who not in self._clients:
            self._clients[who] = KeyedClients(self.keys[who])
        return self._clients[who]

    def act_as(self, who: str) -> AwsClients:
        """Make the app's handlers run as `who`: a cold container with that role's credentials."""
        import app as app_module
        from chalicelib.registry import _versions as registry_module

        for name, value in self.keys[who].items():
            self.monkeypatch.setenv(name, value)
        reset_settings()
        app_module.reset()
        registry_module._model_cache.clear()  # models are loaded from S3 by the caller
        return default_clients()

    def registry(self, who: str) -> Registry:
        opened = open_registry(self.clients(who))
        opened._cache = ModelCache()
        return opened

    def data(self) -> ObjectStore:
        return ObjectStore(self.admin.s3, DATA_BUCKET)

    def drop(self, key: str, body: bytes) -> None:
        """Someone with upload rights puts a file under batch/incoming/ (S3 notifies the queue).

        S3 names the object's version in notifications from a versioned bucket, so the scorer
        reads that version (s3:GetObjectVersion); moto leaves versionId out, so it is added
        here as S3 would have sent it.
        """
        version = self.admin.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)["VersionId"]
        sqs = self.admin.client("sqs")
        received = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        for message in received.get("Messages", []):
            event = json.loads(message["Body"])
            for record in event.get("Records", []):
                if unquote_plus(record["s3"]["object"]["key"]) == key:
                    record["s3"]["object"]["versionId"] = version
            sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(event))
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run_batch(self) -> int:
        """The SQS event source mapping, polling with the batch function's role."""
        import app as app_module

        return drain(self.act_as("batch").client("sqs"), self.queue_url, app_module.score_batch)

    def run_retrains(self) -> list[dict[str, Any]]:
        """The retrain queue's event source mapping, one message at a time, with the retraining
        function's role; what the function did with each."""
        import app as app_module

        done: list[dict[str, Any]] = []

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            result = app_module.retrain_model(event, context)
            done.extend(result["retrains"])
            return dict(result)

        sqs = self.act_as("retrain").client("sqs")
        drain(sqs, self.retrain_queue_url, handler, batch_size=1)
        return done

    def run_aggregator(self) -> dict[str, int]:
        """The aggregate queue's event source mapping, with the aggregating function's role;
        how many objects of each kind it added."""
        import app as app_module

        done: dict[str, int] = {}

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            result = app_module.aggregate_arrivals(event, context)
            assert result["batchItemFailures"] == [], result
            for kind, count in result["aggregated"].items():
                done[kind] = done.get(kind, 0) + count
            return dict(result)

        drain(
            self.act_as("aggregate").client("sqs"), self.aggregate_queue_url, handler, batch_size=10
        )
        return done


def queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def log_group(function: str) -> str:
    return f"/aws/lambda/{STACK}-{function}"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


@pytest.fixture(scope="module", autouse=True)
def one_botocore_loader() -> Iterator[None]:
    """Every session of this module reads the service models once: each role's clients come
    from new boto3 sessions, and parsing the models again for each was half the runtime."""
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.create_loader()
    with mock.patch.object(botocore.session, "create_loader", lambda *_: loader):
        yield


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    from moto import mock_aws
    from moto.core import enable_iam_authentication

    import app as app_module

    with mock_aws():
        built = Stack(monkeypatch)
        # From here on every request is authenticated and authorized against the IAM users
        # (the context-manager form of set_initial_no_auth_action_count(0)).
        with enable_iam_authentication():
            yield built
    reset_settings()
    app_module.reset()


@pytest.fixture
def champion(stack: Stack) -> Registry:
    """Version 1 of churn, registered and promoted by an admin (the deploy role)."""
    registry = stack.registry("admin")
    registry.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    registry.promote(MODEL, 1)
    return registry


@pytest.fixture
def api(stack: Stack, tmp_path: Path) -> Iterator[Client]:
    """The HTTP API running as the api function (no stage variables: the test buckets apply)."""
    import app as app_module

    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "t"}')
    stack.act_as("api")
    with Client(app_module.app, project_dir=str(tmp_path)) as client:
        yield client


def post(client: Client, path: str, body: Any) -> Any:
    return client.http.post(
        path, headers={"Content-Type": "application/json"}, body=json.dumps(body)
    )


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    return rows.to_dict("records")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


# -- the api function --------------------------------------------------------------------------
def test_api_predicts_takes_feedback_and_says_there_is_no_report_yet(
    stack: Stack, champion: Registry, api: Client
) -> None:
    predicted = post(api, f"/models/{MODEL}/predict", {"records": as_records(churn_frame(3))})
    assert predicted.status_code == 200, predicted.json_body
    assert predicted.json_body["model"] == {"name": MODEL, "version": 1, "alias": "champion"}

    assert api.http.get("/models").json_body["models"][0]["name"] == MODEL
    assert api.http.get(f"/models/{MODEL}").json_body["version"] == 1

    missing = post(api, "/models/nope/predict", {"records": as_records(churn_frame(1))})
    assert missing.status_code == 404, missing.json_body
    assert missing.json_body["error"] == "NotFound"

    ids = predicted.json_body["prediction_ids"]
    feedback = post(
        api, f"/models/{MODEL}/feedback", [{"prediction_id": i, "actual": 1} for i in ids]
    )
    assert feedback.status_code == 200, feedback.json_body
    assert len(list(stack.data().list_keys(f"feedback/{MODEL}/"))) == 1

    report = api.http.get(f"/models/{MODEL}/report")
    assert report.status_code == 404, report.json_body
    assert f"sklambda monitor {MODEL}" in report.json_body["message"]


def test_api_serves_the_catalog_from_reports_manifests_and_usage_metrics(
    stack: Stack, champion: Registry, api: Client
) -> None:
    import app as app_module

    stack.drop(f"batch/incoming/{MODEL}/week.csv", csv_bytes(churn_frame(50, seed=3)[FEATURES]))
    stack.run_batch()
    dimensions = [
        {"Name": "Model", "Value": MODEL},
        {"Name": "Version", "Value": "1"},
        {"Name": "Consumer", "Value": "checkout"},
    ]
    stack.admin.client("cloudwatch").put_metric_data(
        Namespace="sklambda",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dimensions, "Value": 3.0},
            {"MetricName": "RecordsScored", "Dimensions": dimensions, "Value": 120.0},
        ],
    )
    stack.act_as("api")
    app_module.reset()

    page = api.http.get("/catalog")
    document = api.http.get("/catalog?format=json")

    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert document.status_code == 200, document.json_body
    (entry,) = document.json_body["models"]
    assert entry["batch"]["files"] == 1 and entry["batch"]["rows_scored"] == 50
    assert entry["usage"]["consumers"] == [{"consumer": "checkout", "requests": 3, "records": 120}]
    # Manifests only: the scored rows themselves stay out of the API's reach.
    data = ObjectStore(stack.clients("api").s3, DATA_BUCKET)
    data.get_json(f"batch/scored/{MODEL}/week.csv.manifest.json")
    with pytest.raises(AwsAccessError, match="access denied"):
        data.get_bytes(f"batch/scored/{MODEL}/week.csv")


def test_api_capture_reaches_the_data_bucket_through_firehose(
    stack: Stack, champion: Registry, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", STREAM)
    stack.act_as("api")

    response = post(api, f"/models/{MODEL}/predict", {"records": as_records(churn_frame(4))})

    assert response.status_code == 200
    captured = list(stack.data().list_keys("capture/"))
    assert captured, "PutRecordBatch was refused: the request succeeded but nothing was captured"
    lines = stack.data().get_bytes(captured[0])[0].decode().splitlines()
    assert {json.loads(line)["prediction_id"] for line in lines} == set(
        response.json_body["prediction_ids"]
    )


def test_api_shows_a_past_prediction_from_the_capture_and_explains_it_again(
    stack: Stack, champion: Registry, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", STREAM)
    stack.act_as("api")
    rows = as_records(churn_frame(2, seed=4))
    plain = post(api, f"/models/{MODEL}/predict", {"records": rows}).json_body
    explained = post(api, f"/models/{MODEL}/predict?explain=true", {"records": rows}).json_body

    shown = api.http.get(f"/models/{MODEL}/predictions/{plain['prediction_ids'][1]}?explain=true")
    captured = api.http.get(f"/models/{MODEL}/predictions/{explained['prediction_ids'][0]}")

    assert shown.status_code == 200, shown.json_body
    assert shown.json_body["explanation_source"] == "recomputed"
    assert shown.json_body["explanation"] == explained["explanations"][1]
    assert captured.status_code == 200, captured.json_body
    assert captured.json_body["explanation"] == explained["explanations"][0]
    assert captured.json_body["explanation_source"] == "captured"
    # Reading the capture is all it gained: it still cannot write there.
    data = ObjectStore(stack.clients("api").s3, DATA_BUCKET)
    with pytest.raises(AwsAccessError, match="access denied"):
        data.put_bytes("capture/2026/12/02/10/forged", b"{}")


def test_api_cannot_move_aliases_register_models_or_read_batch_files(
    stack: Stack, champion: Registry
) -> None:
    champion.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    registry = stack.registry("api")
    assert registry.get_aliases(MODEL)["aliases"]["champion"]["version"] == 1  # it can read

    with pytest.raises(AwsAccessError, match="access denied"):
        registry.promote(MODEL, 2)
    with pytest.raises(AwsAccessError, match="access denied"):
        registry.register("other", fitted_logreg(), training_frame(), TARGET)
    assert champion.get_aliases(MODEL)["aliases"]["champion"]["version"] == 1

    stack.drop(f"batch/incoming/{MODEL}/customers.csv", csv_bytes(churn_frame(5)))
    data = ObjectStore(stack.clients("api").s3, DATA_BUCKET)
    with pytest.raises(AwsAccessError, match="access denied"):
        data.get_bytes(f"batch/incoming/{MODEL}/customers.csv")


@pytest.mark.parametrize("function", ["api", "batch", "monitor"])
def test_every_function_but_retraining_can_verify_but_never_sign(
    stack: Stack, champion: Registry, function: str
) -> None:
    kms = stack.clients(function).client("kms")
    kms.get_public_key(KeyId=stack.signing_key_arn)  # what verifying needs
    with pytest.raises(ClientError) as denied:
        kms.sign(
            KeyId=stack.signing_key_arn,
            Message=b'{"model":"churn","version":9}',
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )
    assert error_code(denied.value) in DENIED
    # Nor through the registry: even where it could write, its manifest would go unsigned.
    signer = stack.registry(function)._signatures.key()
    with pytest.raises(AwsAccessError, match="only principals granted kms:Sign"):
        signer.sign(b"{}")
    assert champion.signature_status(MODEL, 1)["state"] == "verified"


def test_the_retraining_function_signs_what_it_registers(stack: Stack) -> None:
    kms = stack.clients("retrain").client("kms")
    signed = kms.sign(
        KeyId=stack.signing_key_arn,
        Message=b"{}",
        MessageType="RAW",
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )
    assert signed["Signature"]


# -- the batch function ------------------------------------------------------------------------
def test_batch_scores_a_dropped_file_end_to_end(stack: Stack, champion: Registry) -> None:
    frame = churn_frame(120, seed=5, with_target=False).astype(object)
    frame.loc[3, "tenure_months"] = "ten"
    stack.drop(f"batch/incoming/{MODEL}/2026/june.csv", csv_bytes(frame))

    assert stack.run_batch() == 1

    data = stack.data()
    manifest = data.get_json(f"batch/scored/{MODEL}/2026/june.csv.manifest.json")[0]
    assert manifest["status"] == "succeeded", manifest
    assert manifest["rows"] == {"read": 120, "scored": 119, "rejected": 1}
    assert manifest["input"]["version_id"]  # read by version: s3:GetObjectVersion
    scored = pd.read_csv(io.BytesIO(data.get_bytes(f"batch/scored/{MODEL}/2026/june.csv")[0]))
    assert len(scored) == 119 and (scored["model_version"] == 1).all()
    errors = data.get_bytes(f"batch/errors/{MODEL}/2026/june.csv.errors.csv")[0].decode()
    assert "tenure_months" in errors
    sqs = stack.admin.client("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=stack.queue_url)  # deleted, not retried


def test_batch_fans_a_large_file_out_over_the_queue(
    stack: Stack, champion: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = csv_bytes(churn_frame(400, seed=6, with_target=False))
    monkeypatch.setenv("SKLAMBDA_BATCH_SPLIT_BYTES", str(len(body) // 2))
    monkeypatch.setenv("SKLAMBDA_BATCH_PART_BYTES", str(len(body) // 4))
    stack.drop(f"batch/incoming/{MODEL}/big.csv", body)

    stack.run_batch()

    data = stack.data()
    manifest = data.get_json(f"batch/scored/{MODEL}/big.csv.manifest.json")[0]
    assert manifest["status"] == "succeeded", manifest
    assert manifest["parts"] >= 4 and manifest["rows"]["scored"] == 400
    assert not list(data.list_keys("batch/_jobs/"))  # the parts were cleaned up


class AlmostOutOfTime:
    """Lambda's context of an invocation with seconds left: under the batch reserve."""

    aws_request_id = "req-late"

    def get_remaining_time_in_millis(self) -> int:
        return 5_000


def test_batch_hands_a_message_back_when_its_time_runs_out(
    stack: Stack, champion: Registry
) -> None:
    import app as app_module

    sqs = stack.admin.client("sqs")
    # As deployed, a received message stays hidden for long: only a hand-back shows it again.
    sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "600"})
    stack.drop(f"batch/incoming/{MODEL}/late.csv", csv_bytes(churn_frame(20, seed=7)[FEATURES]))
    responses: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        responses.append(app_module.score_batch(event, context))
        return responses[-1]

    batch_sqs = stack.act_as("batch").client("sqs")
    deliver_once(batch_sqs, stack.queue_url, handler, context=AlmostOutOfTime())

    assert len(responses[0]["batchItemFailures"]) == 1
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)
    # sqs:ChangeMessageVisibility was allowed: the message is visible again at once.
    assert [counts["Attributes"][name] for name in names] == ["1", "0"]
    assert not list(stack.data().list_keys("batch/_jobs/"))

    stack.run_batch()

    manifest = stack.data().get_json(f"batch/scored/{MODEL}/late.csv.manifest.json")[0]
    assert manifest["status"] == "succeeded", manifest


def test_batch_cannot_write_models_or_its_own_trigger(stack: Stack, champion: Registry) -> None:
    champion.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    with pytest.raises(AwsAccessError, match="access denied"):
        stack.registry("batch").promote(MODEL, 2)
    data = ObjectStore(stack.clients("batch").s3, DATA_BUCKET)
    with pytest.raises(AwsAccessError, match="access denied"):  # it would trigger itself
        data.put_bytes(f"batch/incoming/{MODEL}/loop.csv", b"a\n1\n")
    with pytest.raises(AwsAccessError, match="access denied"):
        data.get_bytes(f"feedback/{MODEL}/anything.jsonl")


# -- the monitor function ----------------------------------------------------------------------
def scored_through_firehose(
    stack: Stack, api: Client, monkeypatch: pytest.MonkeyPatch, seed: int
) -> list[dict[str, Any]]:
    """300 customers scored over the API as its role, captured through Firehose; the ground
    truth of their predictions, as feedback would send it."""
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", STREAM)
    stack.act_as("api")
    traffic = churn_frame(300, seed=seed)
    ids = []
    for start in range(0, 300, 100):
        rows = as_records(traffic.iloc[start : start + 100])
        ids += post(api, f"/models/{MODEL}/predict", {"records": rows}).json_body["prediction_ids"]
    return [
        {"prediction_id": i, "actual": int(a)} for i, a in zip(ids, traffic[TARGET], strict=True)
    ]


def test_monitor_reads_all_traffic_reports_publishes_metrics_and_moves_aliases(
    stack: Stack, champion: Registry, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    # Traffic as it arrives in production: HTTP through Firehose, feedback, a batch file.
    actuals = scored_through_firehose(stack, api, monkeypatch, seed=21)
    assert post(api, f"/models/{MODEL}/feedback", actuals).status_code == 200
    stack.drop(f"batch/incoming/{MODEL}/week.csv", csv_bytes(churn_frame(200, seed=22)[FEATURES]))
    stack.run_batch()

    stack.act_as("monitor")
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = app_module.monitor_models(
        scheduled_event("monitor_models", REGION, event_id="e1", at=at), None
    )

    assert outcome["models"][MODEL]["status"] == "done", outcome
    report = stack.data().get_json(outcome["models"][MODEL]["report"])[0]
    entry = next(v for v in report["versions"] if v["version"] == 1)
    assert entry["traffic"] == {"http": 300, "batch": 200, "total": 500}
    assert entry["quality"]["labelled"] == 300
    now = datetime.now(UTC)
    samples = stack.admin.client("cloudwatch").get_metric_statistics(
        Namespace="sklambda",
        MetricName="SampleCount",
        Dimensions=[{"Name": "Model", "Value": MODEL}, {"Name": "Version", "Value": "1"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=2),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in samples] == [500.0]

    stack.act_as("api")
    page = api.http.get(f"/models/{MODEL}/report")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]

    # Alias moves belong to the monitor (rollout, rollback): it can promote what CI registered.
    champion.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    moved = stack.registry("monitor").promote(MODEL, 2, alias="canary", weight=0.25)
    assert moved["aliases"]["canary"]["version"] == 2
    assert [e["alias"] for e in champion.history(MODEL)][-1] == "canary"


def test_the_aggregating_function_adds_what_lands_and_the_monitor_merges_it(
    stack: Stack, champion: Registry, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module
    from chalicelib.monitoring import MonitorSources

    # Capture through Firehose, feedback through the route, a scored batch file: each object
    # that lands notifies the aggregate queue, which the aggregating function drains.
    actuals = scored_through_firehose(stack, api, monkeypatch, seed=23)
    stack.drop(f"batch/incoming/{MODEL}/week.csv", csv_bytes(churn_frame(200, seed=24)[FEATURES]))
    stack.run_batch()
    first = stack.run_aggregator()  # capture and the batch file first: the labels find them
    assert first["batch"] == 1 and first["capture"] >= 1, first
    stack.act_as("api")
    assert post(api, f"/models/{MODEL}/feedback", actuals).status_code == 200

    added = stack.run_aggregator()

    assert added == {"feedback": 1}
    reads: list[str] = []
    original = MonitorSources.object_records
    monkeypatch.setattr(
        MonitorSources, "object_records", lambda self, key: reads.append(key) or original(self, key)
    )
    stack.act_as("monitor")
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcome = app_module.monitor_models(
        scheduled_event("monitor_models", REGION, event_id="e-agg", at=at), None
    )
    assert outcome["models"][MODEL]["status"] == "done", outcome
    assert reads == []  # everything was added up as it landed
    report = stack.data().get_json(outcome["models"][MODEL]["report"])[0]
    entry = next(v for v in report["versions"] if v["version"] == 1)
    assert entry["traffic"] == {"http": 300, "batch": 200, "total": 500}
    assert entry["quality"]["labelled"] == 300
    assert report["feedback"] == {"received": 300, "joined": 300, "unusable_rows": 0}


def test_the_aggregating_function_only_consumes_its_queue_and_writes_only_partials(
    stack: Stack,
) -> None:
    sqs = stack.clients("aggregate").client("sqs")
    with pytest.raises(ClientError) as denied:
        sqs.send_message(QueueUrl=stack.aggregate_queue_url, MessageBody="{}")
    assert error_code(denied.value) in DENIED
    for url in (stack.queue_url, stack.retrain_queue_url):
        with pytest.raises(ClientError) as denied:
            sqs.receive_message(QueueUrl=url)
        assert error_code(denied.value) in DENIED
    with pytest.raises(AwsAccessError, match="access denied"):
        ObjectStore(stack.clients("aggregate").s3, DATA_BUCKET).put_json(
            f"reports/{MODEL}/latest.json", {}
        )


def test_the_monitor_asks_and_the_retraining_function_retrains_from_the_training_prefix(
    stack: Stack, champion: Registry, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    champion.configure(MODEL, {"drift_thresholds": {"consecutive_breaches": 1}})
    champion.set_policy(
        MODEL,
        {"on_drift": True, "action": "canary", "canary_weight": 0.5, "min_labels": 10_000},
    )
    changed = churn_frame(2600, seed=31, shift=1.0)  # customers after the market changed
    changed[TARGET] = 1 - changed[TARGET]
    training, traffic = changed.iloc[:2000], changed.iloc[2000:]
    stack.data().put_bytes(f"training/{MODEL}/week.csv", csv_bytes(training[[*FEATURES, TARGET]]))
    monkeypatch.setenv("SKLAMBDA_CAPTURE_MODE", "firehose")
    monkeypatch.setenv("SKLAMBDA_CAPTURE_STREAM", STREAM)
    stack.act_as("api")
    for start in range(0, len(traffic), 200):
        rows = as_records(traffic.iloc[start : start + 200])
        assert post(api, f"/models/{MODEL}/predict", {"records": rows}).status_code == 200

    stack.act_as("monitor")
    at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = scheduled_event("monitor_models", REGION, event_id="e-retrain", at=at)
    outcome = app_module.monitor_models(event, None)

    assert outcome["models"][MODEL]["status"] == "done", outcome
    report = stack.data().get_json(outcome["models"][MODEL]["report"])[0]
    (asked,) = [d for d in report["decisions"] if d["action"] == "retrain"]
    assert asked["outcome"] == "retraining requested", asked  # sqs:SendMessage was allowed
    assert champion.list_versions(MODEL) == [1]

    (retrained,) = stack.run_retrains()

    assert retrained["event_id"] == "e-retrain" and retrained["version"] == 2, retrained
    aliases = champion.get_aliases(MODEL)["aliases"]
    assert {alias: v["version"] for alias, v in aliases.items()} == {"champion": 1, "canary": 2}
    lineage = champion.get_metadata(MODEL, 2)["retraining"]
    assert lineage["files"] == [f"training/{MODEL}/week.csv"]
    assert champion.signature_status(MODEL, 2)["state"] == "verified"
    sqs = stack.admin.client("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=stack.retrain_queue_url)  # deleted


def test_the_monitor_can_no_longer_train_register_or_sign(stack: Stack, champion: Registry) -> None:
    monitor = stack.registry("monitor")
    with pytest.raises(AwsAccessError, match="access denied|kms:Sign"):
        monitor.register(MODEL, fitted_logreg(), training_frame(), TARGET)
    assert champion.list_versions(MODEL) == [1]
    stack.data().put_bytes(f"training/{MODEL}/week.csv", b"a\n1\n")
    with pytest.raises(AwsAccessError, match="access denied"):
        ObjectStore(stack.clients("monitor").s3, DATA_BUCKET).get_bytes(
            f"training/{MODEL}/week.csv"
        )
    # It moves aliases and records decisions, nothing else of a model's.
    monitor.record_decision(MODEL, {"action": "probe", "reason": "test"})
    assert champion.decisions(MODEL)[-1]["action"] == "probe"


def test_the_retraining_function_only_consumes_its_queue(stack: Stack) -> None:
    retrain = stack.clients("retrain").client("sqs")
    with pytest.raises(ClientError) as denied:  # it cannot ask itself for more retrains
        retrain.send_message(QueueUrl=stack.retrain_queue_url, MessageBody="{}")
    assert error_code(denied.value) in DENIED
    with pytest.raises(ClientError) as denied:
        retrain.receive_message(QueueUrl=stack.queue_url)
    assert error_code(denied.value) in DENIED
    monitor = stack.clients("monitor").client("sqs")
    with pytest.raises(ClientError) as denied:  # the monitor sends; it never consumes
        monitor.receive_message(QueueUrl=stack.retrain_queue_url)
    assert error_code(denied.value) in DENIED
    with pytest.raises(ClientError) as denied:
        monitor.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    assert error_code(denied.value) in DENIED


# -- what each function may touch --------------------------------------------------------------
M, D = MODELS_BUCKET, DATA_BUCKET
AREAS = [
    (M, "models/"),
    (M, f"models/{MODEL}/versions/1/"),
    (M, f"models/{MODEL}/decisions/"),
    (M, "elsewhere/"),
    *[
        (D, p)
        for p in (
            "batch/incoming/",
            "batch/scored/",
            "batch/errors/",
            "batch/_jobs/",
            "capture/",
            "feedback/",
            "training/",
            "reports/",
            "reports/_partials/",
            "elsewhere/",
        )
    ],
    (OTHER_BUCKET, "models/"),
    (OTHER_BUCKET, "reports/"),
]
# The reviewed intent, written out: (bucket, prefix) → what the function may do there. Every
# function lists the models and data buckets (missing keys are 404, not 403) and nothing else.
MAY = {
    "api": {
        (M, "models/"): "get version",
        (M, f"models/{MODEL}/versions/1/"): "get version",
        (M, f"models/{MODEL}/decisions/"): "get version",
        (D, "reports/"): "get",
        (D, "reports/_partials/"): "get",
        (D, "capture/"): "get",  # one past prediction (GET /models/{name}/predictions/{id})
        (D, "feedback/"): "put",
    },
    "batch": {
        (M, "models/"): "get version",
        (M, f"models/{MODEL}/versions/1/"): "get version",
        (M, f"models/{MODEL}/decisions/"): "get version",
        (D, "batch/incoming/"): "get version",
        (D, "batch/scored/"): "get put delete",
        (D, "batch/errors/"): "get put delete",
        (D, "batch/_jobs/"): "get put delete",
    },
    "monitor": {
        # It reads the registry, moves aliases and records decisions; it registers nothing.
        (M, "models/"): "get version",
        (M, f"models/{MODEL}/versions/1/"): "get version",
        (M, f"models/{MODEL}/decisions/"): "get version put",
        # Batch inputs and scored outputs (with their manifests), not errors or part files.
        (D, "batch/incoming/"): "get version",
        (D, "batch/scored/"): "get version",
        (D, "capture/"): "get version",
        (D, "feedback/"): "get version",
        (D, "reports/"): "get put delete",
        (D, "reports/_partials/"): "get put delete",
    },
    "retrain": {
        # It registers versions and records what it did; it reads training data only.
        (M, "models/"): "get version put delete",
        (M, f"models/{MODEL}/versions/1/"): "get version put delete",
        (M, f"models/{MODEL}/decisions/"): "get version put delete",
        (D, "training/"): "get version",
    },
    "aggregate": {
        # It reads what lands and the versions' references; it writes its partials only.
        (M, "models/"): "get version",
        (M, f"models/{MODEL}/versions/1/"): "get version",
        (M, f"models/{MODEL}/decisions/"): "get version",
        (D, "batch/incoming/"): "get version",
        (D, "batch/scored/"): "get",
        (D, "capture/"): "get",
        (D, "feedback/"): "get",
        (D, "reports/_partials/"): "get put",
    },
}


def allowed(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        if error_code(exc) in DENIED:
            return False
        raise
    return True


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_reaches_exactly_its_prefixes(stack: Stack, function: str) -> None:
    versions = {
        area: stack.admin.s3.put_object(Bucket=area[0], Key=f"{area[1]}probe", Body=b"x").get(
            "VersionId"
        )
        for area in AREAS
    }
    s3 = stack.clients(function).s3
    seen, expected = {}, {}
    for (bucket, prefix), version in versions.items():
        probe = {"Bucket": bucket, "Key": f"{prefix}probe"}
        calls = {
            "get": partial(s3.get_object, **probe),
            "version": partial(s3.get_object, **probe, VersionId=version),
            "put": partial(s3.put_object, Bucket=bucket, Key=f"{prefix}{function}", Body=b"y"),
            "delete": partial(s3.delete_object, Bucket=bucket, Key=f"{prefix}{function}"),
        }
        if version in (None, "null"):  # an unversioned bucket
            del calls["version"]
        may = MAY[function].get((bucket, prefix), "").split()
        for operation, call in calls.items():
            seen[(bucket, prefix, operation)] = allowed(call)
            expected[(bucket, prefix, operation)] = operation in may
    for bucket in (M, D, OTHER_BUCKET):
        seen[(bucket, "", "list")] = allowed(partial(s3.list_objects_v2, Bucket=bucket))
        expected[(bucket, "", "list")] = bucket != OTHER_BUCKET

    assert {k: v for k, v in seen.items() if v != expected[k]} == {}


def test_each_function_can_write_its_logs(stack: Stack) -> None:
    # Lambda's runtime writes these with the function's role. moto checks only the actions
    # here (see the module docstring), not which log group.
    for function in FUNCTIONS:
        logs = stack.clients(function).client("logs")
        logs.create_log_stream(logGroupName=log_group(function), logStreamName="2026/[$LATEST]a")
        logs.put_log_events(
            logGroupName=log_group(function),
            logStreamName="2026/[$LATEST]a",
            logEvents=[{"timestamp": int(datetime.now(UTC).timestamp() * 1000), "message": "m"}],
        )


# -- the policies themselves -------------------------------------------------------------------
@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_bucket_read_is_listable(function: str) -> None:
    """Real S3 answers GetObject of a missing key with 403 unless the caller may list the
    bucket; moto answers 404 regardless, so this is checked on the document."""
    policy = resolve_policy(
        function, queue_arn="arn:aws:sqs:::q", stream_arn="arn:aws:firehose:::s"
    )
    statements = policy["Statement"]
    listable = {r for s in statements if "s3:ListBucket" in s["Action"] for r in s["Resource"]}
    read = {
        r.split("/")[0] for s in statements if "s3:GetObject" in s["Action"] for r in s["Resource"]
    }
    assert read and read <= listable


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_wildcard_actions_and_resource_star_only_under_a_condition(function: str) -> None:
    policy = resolve_policy(
        function, queue_arn="arn:aws:sqs:::q", stream_arn="arn:aws:firehose:::s"
    )
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Sid"]
        assert not [a for a in statement["Action"] if "*" in a], statement["Sid"]
        if "*" in statement["Resource"]:
            assert statement.get("Condition"), statement["Sid"]


def test_moto_gaps_the_adaptation_relies_on(stack: Stack) -> None:
    """Each way moto 5.2 departs from IAM that for_moto() works around. When this fails, moto
    evaluates that case like IAM now: drop the matching workaround from for_moto()."""
    raw = {
        f: KeyedClients(stack.user(stack.admin, f"raw-{f}", stack.policies[f])) for f in FUNCTIONS
    }
    metric = {"Namespace": "sklambda", "MetricData": [{"MetricName": "Probe", "Value": 1.0}]}
    # "cloudwatch:PutMetricData" is checked as "monitoring:PutMetricData"...
    assert not allowed(lambda: raw["monitor"].client("cloudwatch").put_metric_data(**metric))
    # ...and the cloudwatch:namespace condition is not evaluated: another namespace passes.
    elsewhere = {**metric, "Namespace": "not-sklambda"}
    assert allowed(
        lambda: stack.clients("monitor").client("cloudwatch").put_metric_data(**elsewhere)
    )
    # Firehose, Logs, KMS and sqs:GetQueueUrl are checked against resource "*".
    records = {"DeliveryStreamName": STREAM, "Records": [{"Data": b"{}\n"}]}
    assert not allowed(lambda: raw["api"].client("firehose").put_record_batch(**records))
    stream = {"logGroupName": log_group("api"), "logStreamName": "raw"}
    assert not allowed(lambda: raw["api"].client("logs").create_log_stream(**stream))
    assert not allowed(lambda: raw["batch"].client("sqs").get_queue_url(QueueName=QUEUE))
    key = stack.signing_key_arn
    assert not allowed(lambda: raw["api"].client("kms").get_public_key(KeyId=key))
    # SendMessageBatch is its own action in moto; IAM authorizes it with sqs:SendMessage.
    entries = [{"Id": "1", "MessageBody": "{}"}]
    send = {"QueueUrl": stack.queue_url, "Entries": entries}
    assert not allowed(lambda: raw["batch"].client("sqs").send_message_batch(**send))
    assert allowed(
        lambda: raw["batch"].client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    )
    # A missing key is 404 even for a caller that may not list the bucket (S3 says 403).
    no_list = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{M}/models/*"],
            }
        ],
    }
    s3 = KeyedClients(stack.user(stack.admin, "no-list", no_list)).s3
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=M, Key="models/missing")
    assert error_code(missing.value) == "NoSuchKey"
