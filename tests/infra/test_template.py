"""The deployable template: what `sklambda deploy` would send to CloudFormation.

Built by the same code as the deploy (`sklambda.infra.build`), without the dependencies (the
template does not depend on them), then linted, read like a reviewer would, and its plain
CloudFormation part deployed into moto to check the resources it makes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.batch import decode_event_key
from chalicelib.serving import capture_lines
from sklambda.infra.build import build
from sklambda.infra.resources import StageConfig, merge_template
from sklambda.infra.template import wildcard_grants

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("APIHandler", "ScoreBatch", "MonitorModels")
ROLES = {"APIHandler": "ApiHandlerRole", "ScoreBatch": "ScoreBatchRole"}
ROLES["MonitorModels"] = "MonitorModelsRole"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("build")
    result = build(ROOT, "prod", out, with_dependencies=False, slim=False)
    return result.template_path, result.template


@pytest.fixture
def template(packaged: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return json.loads(packaged[0].read_text())


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_the_packaged_template_passes_cfn_lint(packaged: tuple[Path, dict[str, Any]]) -> None:
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(lint), str(packaged[0])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buckets_are_private_encrypted_versioned_tls_only_and_kept(
    template: dict[str, Any],
) -> None:
    buckets = resources_of(template, "AWS::S3::Bucket")
    assert set(buckets) == {"ModelsBucket", "DataBucket"}
    policies = resources_of(template, "AWS::S3::BucketPolicy")
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        choice = default["ServerSideEncryptionByDefault"]["Fn::If"]
        assert choice[0] == "UseKms"
        assert choice[1]["SSEAlgorithm"] == "aws:kms" and choice[2] == {"SSEAlgorithm": "AES256"}
        (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": name}]
        (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    data_rules = buckets["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix") for r in data_rules if "ExpirationInDays" in r}
    assert expiring == {"capture/", "batch/_jobs/"}
    assert template["Parameters"]["EncryptionMode"]["AllowedValues"] == ["SSE-S3", "KMS"]


def test_incoming_files_notify_the_batch_queue_which_has_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    (notification,) = resources["DataBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]
    assert notification["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "batch/incoming/"}
    ]
    queue = resources["BatchQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == 3
    worker_timeout = resources["ScoreBatch"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout
    (trigger,) = resources["ScoreBatch"]["Properties"]["Events"].values()
    assert trigger["Type"] == "SQS"
    assert trigger["Properties"]["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert trigger["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # S3 may send to the queue, for this data bucket only.
    (allow, _) = resources["BatchQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert "-data-" in allow["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]


def test_capture_lines_reach_firehose_and_land_under_the_capture_prefix(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    subscription = resources["CaptureSubscription"]["Properties"]
    assert subscription["LogGroupName"] == {"Ref": "ApiLogGroup"}
    assert subscription["DestinationArn"] == {"Fn::GetAtt": ["CaptureStream", "Arn"]}
    group = resources["ApiLogGroup"]["Properties"]["LogGroupName"]["Fn::Sub"]
    function = resources["APIHandler"]["Properties"]["FunctionName"]["Fn::Sub"]
    assert group == f"/aws/lambda/{function}"
    # The filter matches what the scoring function prints, and nothing else.
    line = json.loads(capture_lines([{"model": "churn", "version": 1}])[0])
    key, value = re.fullmatch(r"\{ \$\.(\w+) = (\d+) \}", subscription["FilterPattern"]).groups()
    assert line[key] == int(value)
    destination = resources["CaptureStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == "capture/"
    processors = [p["Type"] for p in destination["ProcessingConfiguration"]["Processors"]]
    assert processors[:2] == ["Decompression", "CloudWatchLogProcessing"]


def test_alarms_cover_the_api_the_batch_path_and_the_monitor(template: dict[str, Any]) -> None:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    watched = set()
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}]
        if "MetricName" in props:
            watched.add(props["MetricName"])
        else:
            (query,) = props["Metrics"]
            watched.add(re.search(r"SELECT \w+\((\w+)\)", query["Expression"]).group(1))
    assert watched >= {
        "5XXError",  # API 5xx rate
        "Latency",  # API p99
        "ApproximateNumberOfMessagesVisible",  # DLQ not empty
        "BatchFilesFailed",
        "DriftDetected",
        "AccuracyBelowFloor",
        "MonitorFailures",
    }
    latency = alarms["ApiLatencyAlarm"]["Properties"]
    assert latency["ExtendedStatistic"] == "p99"
    assert resources_of(template, "AWS::SNS::Topic")


def test_the_dashboard_shows_traffic_errors_batch_drift_and_accuracy(
    template: dict[str, Any],
) -> None:
    (board,) = resources_of(template, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(board["Properties"]["DashboardBody"]["Fn::Sub"])
    text = json.dumps(body)
    for metric in (
        "RequestCount",
        "Latency",
        "5xxErrors",
        "BatchRowsScored",
        "FeatureDriftPSI",
        "Accuracy",
    ):
        assert f'MetricName=\\"{metric}\\"' in text or f'"{metric}"' in text, metric
    assert "{sklambda,Consumer,Model,Version}" in text  # by model, version and consumer
    assert len(body["widgets"]) >= 10


def test_no_role_is_granted_wildcard_actions_and_each_reaches_only_its_prefixes(
    template: dict[str, Any],
) -> None:
    assert wildcard_grants(template) == []
    for function, role in ROLES.items():
        assert template["Resources"][function]["Properties"]["Role"] == {
            "Fn::GetAtt": [role, "Arn"]
        }
    writes = {role: _object_writes(template, role) for role in ROLES.values()}
    # Scoring writes feedback only; batch writes its outputs; the monitor moves aliases.
    assert writes["ApiHandlerRole"] == {"${DataBucket}/feedback/*"}
    assert writes["ScoreBatchRole"] == {
        "${DataBucket}/batch/scored/*",
        "${DataBucket}/batch/errors/*",
        "${DataBucket}/batch/_jobs/*",
    }
    assert "${ModelsBucket}/models/*" in writes["MonitorModelsRole"]
    metrics = [
        s
        for s in _statements(template, "MonitorModelsRole")
        if "cloudwatch:PutMetricData" in s["Action"]
    ]
    assert metrics[0]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "sklambda"}}


def test_the_wildcard_check_catches_a_broad_grant(template: dict[str, Any]) -> None:
    role = template["Resources"]["ApiHandlerRole"]["Properties"]
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    )
    problems = wildcard_grants(template)
    assert any("every action (s3:*)" in p for p in problems)
    assert any("on every resource" in p for p in problems)


def test_functions_are_told_where_the_stack_resources_are(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["SKLAMBDA_MODELS_BUCKET"] == {"Ref": "ModelsBucket"}
        assert variables["SKLAMBDA_DATA_BUCKET"] == {"Ref": "DataBucket"}
        assert variables["SKLAMBDA_BATCH_QUEUE"] == {"Fn::GetAtt": ["BatchQueue", "QueueName"]}
        assert template["Resources"][function]["Properties"]["Runtime"] == "python3.12"


def test_the_batch_reserve_fits_the_batch_functions_timeout(template: dict[str, Any]) -> None:
    variables = template["Resources"]["ScoreBatch"]["Properties"]["Environment"]["Variables"]
    assert variables["SKLAMBDA_BATCH_RESERVE_SECONDS"] == "60"  # of 900 s
    short = StageConfig(stage="prod", batch_timeout=60)  # Chalice's default timeout
    assert short.batch_reserve_seconds == 15  # it still starts files


def test_api_keys_come_with_a_usage_plan_and_iam_mode_needs_none() -> None:
    keyed = merge_template(StageConfig(stage="prod", api_auth="api_key"))["Resources"]
    assert {"ApiKey", "UsagePlan", "UsagePlanKey"} <= set(keyed)
    assert keyed["UsagePlan"]["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "RestAPI"}, "Stage": "api"}
    ]
    iam = merge_template(StageConfig(stage="prod", api_auth="iam"))["Resources"]
    assert not {"ApiKey", "UsagePlan", "UsagePlanKey"} & set(iam)


def test_an_unknown_stage_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"stage 'qa' is not in .chalice/config.json.*prod"):
        StageConfig.from_chalice(ROOT, "qa")


# -- into moto ----------------------------------------------------------------------------
# Resource types moto's CloudFormation cannot create (it skips them); the closing checks of
# those are the template assertions above.
MOTO_UNSUPPORTED = {
    "AWS::Serverless::Function",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::CloudWatch::Alarm",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Logs::SubscriptionFilter",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
}


def plain_cloudformation(template: dict[str, Any]) -> dict[str, Any]:
    """The template without what moto cannot create, nor what refers to that."""
    from moto.cloudformation.parsing import get_model_map

    plain = json.loads(json.dumps(template))
    plain.pop("Transform", None)
    resources = plain["Resources"]
    supported = get_model_map()
    dropped = {n for n, r in resources.items() if r["Type"] not in supported}
    while True:
        for name in dropped & set(resources):
            del resources[name]
        for resource in resources.values():
            if "DependsOn" in resource:
                resource["DependsOn"] = [d for d in resource["DependsOn"] if d not in dropped]
        referring = {n for n, r in resources.items() if _mentions(r.get("Properties"), dropped)}
        if not referring:
            break
        dropped |= referring
    plain["Outputs"] = {k: v for k, v in plain["Outputs"].items() if not _mentions(v, dropped)}
    return plain


def test_moto_lacks_only_the_known_resource_types(template: dict[str, Any]) -> None:
    from moto.cloudformation.parsing import get_model_map

    kinds = {r["Type"] for r in template["Resources"].values()}
    assert kinds - set(get_model_map()) == MOTO_UNSUPPORTED


@pytest.fixture
def stack(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="eu-west-1")
        cfn.create_stack(
            StackName="sklambda-prod",
            TemplateBody=json.dumps(plain_cloudformation(template)),
            Capabilities=["CAPABILITY_IAM"],
        )
        yield cfn


def test_the_plain_resources_deploy_into_moto_with_their_posture(stack: Any) -> None:
    (described,) = stack.describe_stacks(StackName="sklambda-prod")["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    s3 = boto3.client("s3", region_name="eu-west-1")
    data = outputs["DataBucketName"]
    assert data == "sklambda-prod-data-123456789012-eu-west-1"
    # moto's CloudFormation applies a bucket's name, encryption and tags only; the rest of
    # the posture is checked on the template above.
    for bucket in (outputs["ModelsBucketName"], data):
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    sqs = boto3.client("sqs", region_name="eu-west-1")
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["BatchQueueUrl"], AttributeNames=["All"])
    assert int(attributes["Attributes"]["VisibilityTimeout"]) == 6 * 900
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":sklambda-prod-batch-dlq")

    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    assert cloudwatch.list_dashboards()["DashboardEntries"][0]["DashboardName"] == "sklambda-prod"
    sns = boto3.client("sns", region_name="eu-west-1")
    assert sns.get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])
    logs = boto3.client("logs", region_name="eu-west-1")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/sklambda-prod-")
    assert {g["logGroupName"]: g.get("retentionInDays") for g in groups["logGroups"]} == {
        "/aws/lambda/sklambda-prod-api": 30,
        "/aws/lambda/sklambda-prod-batch": 30,
        "/aws/lambda/sklambda-prod-monitor": 30,
    }


def test_a_file_dropped_in_incoming_reaches_the_batch_queue_in_moto(
    stack: Any, template: dict[str, Any]
) -> None:
    (described,) = stack.describe_stacks(StackName="sklambda-prod")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    s3 = boto3.client("s3", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    queue = outputs["BatchQueueUrl"]
    # moto's CloudFormation skips a bucket's notification: apply the template's own with the
    # S3 API, which checks its shape, then see where files go.
    (config,) = template["Resources"]["DataBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=outputs["DataBucketName"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": sqs.get_queue_attributes(
                        QueueUrl=queue, AttributeNames=["QueueArn"]
                    )["Attributes"]["QueueArn"],
                    "Events": [config["Event"]],
                    "Filter": {"Key": {"FilterRules": config["Filter"]["S3Key"]["Rules"]}},
                }
            ]
        },
    )
    sqs.purge_queue(QueueUrl=queue)  # the test event S3 sends when a notification is set

    s3.put_object(Bucket=outputs["DataBucketName"], Key="batch/scored/churn/x.csv", Body=b"a\n")
    s3.put_object(Bucket=outputs["DataBucketName"], Key="batch/incoming/churn/d.csv", Body=b"a\n")

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    records = [r for m in messages for r in json.loads(m["Body"])["Records"]]
    keys = [decode_event_key(r["s3"]["object"]["key"]) for r in records]
    assert keys == ["batch/incoming/churn/d.csv"]  # outputs never trigger the scorer


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _object_writes(template: dict[str, Any], role: str) -> set[str]:
    found = set()
    for statement in _statements(template, role):
        if "s3:PutObject" in statement["Action"]:
            for resource in statement["Resource"]:
                found.add(resource["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::"))
    return found


def _mentions(node: Any, names: set[str]) -> bool:
    text = json.dumps(node)
    return any(re.search(rf'"{name}"|\$\{{{name}[.}}]', text) for name in names)
