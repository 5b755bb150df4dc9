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
from sklambda.infra.template import policy_statements, wildcard_grants

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("APIHandler", "ScoreBatch", "MonitorModels", "RetrainModel", "AggregateArrivals")
ROLES = {"APIHandler": "ApiHandlerRole", "ScoreBatch": "ScoreBatchRole"}
ROLES["MonitorModels"] = "MonitorModelsRole"
ROLES["RetrainModel"] = "RetrainModelRole"
ROLES["AggregateArrivals"] = "AggregateArrivalsRole"


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
    assert expiring == {"capture/", "batch/_jobs/", "reports/_partials/"}
    assert template["Parameters"]["EncryptionMode"]["AllowedValues"] == ["SSE-S3", "KMS"]


def test_retired_artifacts_move_to_glacier_ir_after_the_parameters_days(
    template: dict[str, Any],
) -> None:
    rules = template["Resources"]["ModelsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r["Id"] == "ArchiveRetiredArtifacts"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "models/"
    assert rule["TagFilters"] == [{"Key": "sklambda-retired", "Value": "true"}]
    assert rule["Transitions"] == [
        {"StorageClass": "GLACIER_IR", "TransitionInDays": {"Ref": "RetiredArtifactsDays"}}
    ]
    days = template["Parameters"]["RetiredArtifactsDays"]
    assert days["Type"] == "Number" and days["Default"] == 30
    # Only the people who retire may tag: no function's role gains tagging rights.
    for role in ROLES.values():
        for statement in _statements(template, role):
            actions = _as_list(statement["Action"])
            assert not any("Tagging" in action for action in actions), role


def test_incoming_files_notify_the_batch_queue_which_has_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    (notification,) = [
        n
        for n in resources["DataBucket"]["Properties"]["NotificationConfiguration"][
            "QueueConfigurations"
        ]
        if n["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    ]
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


def test_what_the_monitor_aggregates_notifies_the_aggregate_queue_which_has_a_dlq(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    data = resources["DataBucket"]
    configurations = data["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    aggregate = {"Fn::GetAtt": ["AggregateQueue", "Arn"]}
    filters = [n["Filter"]["S3Key"]["Rules"] for n in configurations if n["Queue"] == aggregate]
    assert filters == [
        [{"Name": "prefix", "Value": "capture/"}],
        [{"Name": "prefix", "Value": "feedback/"}],
        [
            {"Name": "prefix", "Value": "batch/scored/"},
            {"Name": "suffix", "Value": ".manifest.json"},
        ],
    ]
    assert {n["Event"] for n in configurations} == {"s3:ObjectCreated:*"}
    assert len(configurations) == 4  # and the batch queue's incoming files
    # S3 checks it may send to each queue when it saves the notifications.
    assert set(data["DependsOn"]) >= {"BatchQueuePolicy", "AggregateQueuePolicy"}

    queue = resources["AggregateQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "${AWS::StackName}-aggregate"}
    assert queue["SqsManagedSseEnabled"] is True
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["AggregateDeadLetterQueue", "Arn"]}
    assert 2 <= redrive["maxReceiveCount"] <= 10
    dlq = resources["AggregateDeadLetterQueue"]["Properties"]
    assert dlq["QueueName"] == {"Fn::Sub": "${AWS::StackName}-aggregate-dlq"}
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600 and dlq["SqsManagedSseEnabled"]
    # S3 may send, for this data bucket and account only; nothing reaches it without TLS.
    policy = resources["AggregateQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "AggregateQueue"}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == aggregate
    batch_allow = resources["BatchQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert allow["Condition"] == batch_allow["Condition"]
    assert "-data-" in allow["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_aggregating_function_takes_ten_objects_and_reports_each_failure(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    function = resources["AggregateArrivals"]["Properties"]
    assert function["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-aggregate"}
    assert (function["MemorySize"], function["Timeout"]) == (1769, 300)
    (trigger,) = function["Events"].values()
    assert trigger["Type"] == "SQS" and trigger["Properties"]["BatchSize"] == 10
    assert trigger["Properties"]["MaximumBatchingWindowInSeconds"] == 30  # fuller batches
    assert trigger["Properties"]["Queue"] == {"Fn::GetAtt": ["AggregateQueue", "Arn"]}
    assert trigger["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["AggregateQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert resources["AggregateArrivals"]["DependsOn"] == ["AggregateLogGroup"]
    group = resources["AggregateLogGroup"]["Properties"]["LogGroupName"]
    assert group == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-aggregate"}
    outputs = template["Outputs"]
    assert outputs["AggregateQueueUrl"]["Value"] == {"Ref": "AggregateQueue"}
    assert outputs["AggregateDeadLetterQueueUrl"]["Value"] == {"Ref": "AggregateDeadLetterQueue"}


def test_the_aggregating_role_reads_what_lands_and_writes_only_partials(
    template: dict[str, Any],
) -> None:
    role = ROLES["AggregateArrivals"]
    granted: dict[str, set[str]] = {}
    for statement in _statements(template, role):
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            text = resource["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::")
            granted.setdefault(text, set()).update(statement["Action"])
    read = {"s3:GetObject"}
    assert granted == {
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "/aws/lambda/${AWS::StackName}-aggregate:*": {"logs:CreateLogStream", "logs:PutLogEvents"},
        "${ModelsBucket}": {"s3:ListBucket"},
        "${DataBucket}": {"s3:ListBucket"},
        "${ModelsBucket}/models/*": {"s3:GetObject", "s3:GetObjectVersion"},
        "${SigningKey.Arn}": {"kms:GetPublicKey"},
        "${DataBucket}/capture/*": read,
        "${DataBucket}/feedback/*": read,
        "${DataBucket}/batch/incoming/*": {"s3:GetObject", "s3:GetObjectVersion"},
        "${DataBucket}/batch/scored/*": read,
        "${DataBucket}/reports/_partials/*": {"s3:GetObject", "s3:PutObject"},
        "${AggregateQueue.Arn}": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        },
    }
    # Only the aggregating function receives from its queue; no role sends to it (S3 does).
    queue_ref = {"Fn::Sub": "${AggregateQueue.Arn}"}
    others = [
        (name, s["Action"])
        for name in ROLES.values()
        if name != role
        for s in _statements(template, name)
        if queue_ref in s["Resource"]
    ]
    assert others == []


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
    errors = alarms["AggregateErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "AggregateArrivals"}}]
    dead = alarms["AggregateDeadLetterAlarm"]["Properties"]
    assert dead["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["AggregateDeadLetterQueue", "QueueName"]}}
    ]
    for found in (errors, dead):
        assert (found["Threshold"], found["ComparisonOperator"]) == (0, "GreaterThanThreshold")
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
    # The API reads the registry, reports, batch manifests (the catalog) and the capture (one
    # past prediction); never batch files or feedback.
    assert _object_reads(template, "ApiHandlerRole") == {
        "${ModelsBucket}/models/*",
        "${DataBucket}/reports/*",
        "${DataBucket}/batch/scored/*.manifest.json",
        "${DataBucket}/capture/*",
    }
    assert writes["ScoreBatchRole"] == {
        "${DataBucket}/batch/scored/*",
        "${DataBucket}/batch/errors/*",
        "${DataBucket}/batch/_jobs/*",
    }
    # The monitor moves aliases and records decisions; it registers nothing.
    assert writes["MonitorModelsRole"] == {
        "${ModelsBucket}/models/*/aliases.json",
        "${ModelsBucket}/models/*/history/*",
        "${ModelsBucket}/models/*/decisions/*",
        "${DataBucket}/reports/*",
    }
    # Retraining registers versions, and writes nothing in the data bucket.
    assert writes["RetrainModelRole"] == {"${ModelsBucket}/models/*"}
    # Aggregating writes the monitor's partials and nothing else.
    assert writes["AggregateArrivalsRole"] == {"${DataBucket}/reports/_partials/*"}
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
        aggregate = {"Fn::GetAtt": ["AggregateQueue", "QueueName"]}
        assert variables["SKLAMBDA_AGGREGATE_QUEUE"] == aggregate
        assert template["Resources"][function]["Properties"]["Runtime"] == "python3.12"


# -- the signing key and who may use it ---------------------------------------------------
SIGNING_KEY_REFERENCES = (
    {"Fn::GetAtt": ["SigningKey", "Arn"]},
    {"Fn::Sub": "${SigningKey.Arn}"},  # how the policy files' placeholder reads once finished
)


def test_the_signing_key_is_asymmetric_for_signing_and_outlives_the_stack(
    template: dict[str, Any],
) -> None:
    (key,) = [k for k in resources_of(template, "AWS::KMS::Key") if k != "DataKey"]
    assert key == "SigningKey"
    signing = template["Resources"]["SigningKey"]
    assert signing["Properties"]["KeySpec"] == "RSA_3072"
    assert signing["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    # Versions signed by it must stay verifiable: never deleted, never silently replaced.
    assert signing["DeletionPolicy"] == "Retain" and signing["UpdateReplacePolicy"] == "Retain"
    assert "Condition" not in signing  # made in every EncryptionMode
    assert signing["Properties"]["Description"]
    (statement,) = signing["Properties"]["KeyPolicy"]["Statement"]
    assert statement["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    assert statement["Action"] == "kms:*"  # the account administers; IAM policies decide use
    alias = template["Resources"]["SigningKeyAlias"]["Properties"]
    assert alias == {
        "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-signing"},
        "TargetKeyId": {"Ref": "SigningKey"},
    }


def test_every_function_is_given_the_signing_key_by_arn_not_by_alias(
    template: dict[str, Any],
) -> None:
    for function in FUNCTIONS:
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["SKLAMBDA_SIGNING_KEY"] == {"Fn::GetAtt": ["SigningKey", "Arn"]}


def test_the_loading_functions_may_only_read_the_signing_keys_public_key(
    template: dict[str, Any],
) -> None:
    for role in (ROLES["APIHandler"], ROLES["ScoreBatch"], ROLES["AggregateArrivals"]):
        assert _kms_grants(template, role) == [(["kms:GetPublicKey"], SIGNING_KEY_REFERENCES[1])]
        (verify,) = [s for s in _statements(template, role) if _kms_actions(s)]
        assert verify["Sid"] == "VerifyModelSignatures"


def test_only_retraining_signs_and_with_the_signing_key_alone(
    template: dict[str, Any],
) -> None:
    grants = _kms_grants(template, ROLES["RetrainModel"])
    assert grants == [(["kms:Sign", "kms:GetPublicKey"], SIGNING_KEY_REFERENCES[1])]
    (sign,) = [s for s in _statements(template, ROLES["RetrainModel"]) if _kms_actions(s)]
    assert sign["Sid"] == "SignModelVersions"
    # The monitor reads signed profiles: it verifies, and no longer signs.
    monitor = _kms_grants(template, ROLES["MonitorModels"])
    assert monitor == [(["kms:GetPublicKey"], SIGNING_KEY_REFERENCES[1])]


def test_the_retraining_function_has_its_own_queue_memory_and_time(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    function = resources["RetrainModel"]["Properties"]
    assert function["Timeout"] == 900
    assert function["MemorySize"] == {"Ref": "RetrainMemorySize"}
    memory = template["Parameters"]["RetrainMemorySize"]
    assert (memory["Default"], memory["MaxValue"]) == (3008, 10240)
    (trigger,) = function["Events"].values()
    assert trigger["Type"] == "SQS" and trigger["Properties"]["BatchSize"] == 1
    assert trigger["Properties"]["Queue"] == {"Fn::GetAtt": ["RetrainQueue", "Arn"]}
    queue = resources["RetrainQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    dlq = {"Fn::GetAtt": ["RetrainDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == dlq
    # The monitor sends, by the URL the stack gives it; only the retraining function receives.
    variables = resources["MonitorModels"]["Properties"]["Environment"]["Variables"]
    assert variables["SKLAMBDA_RETRAIN_QUEUE_URL"] == {"Ref": "RetrainQueue"}
    queue_ref = {"Fn::Sub": "${RetrainQueue.Arn}"}
    by_role = {
        role: sorted(
            a
            for s in _statements(template, role)
            if queue_ref in s["Resource"]
            for a in s["Action"]
        )
        for role in ROLES.values()
    }
    assert by_role == {
        "ApiHandlerRole": [],
        "ScoreBatchRole": [],
        "MonitorModelsRole": ["sqs:SendMessage"],
        "RetrainModelRole": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        "AggregateArrivalsRole": [],
    }


def test_no_grant_decrypts_with_the_signing_key_or_allows_every_kms_action(
    template: dict[str, Any],
) -> None:
    for name, statement in policy_statements(template):
        actions = set(_as_list(statement["Action"]))
        assert not actions & {"*", "kms:*"}, name
        if any(r in SIGNING_KEY_REFERENCES for r in _as_list(statement["Resource"])):
            # Verifying happens in the function with the public key: no kms:Verify either.
            assert actions <= {"kms:Sign", "kms:GetPublicKey"}, name
    for grantee in [*ROLES.values(), "RegistrarPolicy"]:
        for _, resource in _kms_grants(template, grantee):
            assert resource in SIGNING_KEY_REFERENCES, grantee  # no other key, never "*"


def test_the_loads_read_model_files_by_version(template: dict[str, Any]) -> None:
    for role in ROLES.values():
        (models,) = [
            s
            for s in _statements(template, role)
            if {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ModelsBucket}/models/*"} in s["Resource"]
        ]
        assert {"s3:GetObject", "s3:GetObjectVersion"} <= set(models["Action"]), role


def test_the_registrar_policy_covers_the_registry_commands_and_is_an_output(
    template: dict[str, Any],
) -> None:
    (name,) = resources_of(template, "AWS::IAM::ManagedPolicy")
    assert name == "RegistrarPolicy"
    policy = template["Resources"]["RegistrarPolicy"]["Properties"]
    assert policy["ManagedPolicyName"] == {"Fn::Sub": "${AWS::StackName}-registrar"}
    granted = {
        _resource_text(resource): set(statement["Action"])
        for statement in policy["PolicyDocument"]["Statement"]
        for resource in statement["Resource"]
    }
    assert granted == {
        "${ModelsBucket}": {"s3:ListBucket"},
        "${DataBucket}": {"s3:ListBucket"},  # a report not written yet is 404, not 403
        "${ModelsBucket}/models/*": {
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:DeleteObject",
            # retire / restore tag a version's artifacts (no function may)
            "s3:GetObjectTagging",
            "s3:PutObjectTagging",
            "s3:DeleteObjectTagging",
        },
        "${DataBucket}/reports/*": {"s3:GetObject"},
        "SigningKey.Arn": {"kms:Sign", "kms:GetPublicKey"},
    }
    outputs = template["Outputs"]
    assert outputs["RegistrarPolicyArn"]["Value"] == {"Ref": "RegistrarPolicy"}
    assert outputs["SigningKeyArn"]["Value"] == {"Fn::GetAtt": ["SigningKey", "Arn"]}


def test_the_wildcard_check_reads_the_registrar_policy_too(template: dict[str, Any]) -> None:
    policy = template["Resources"]["RegistrarPolicy"]["Properties"]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    problems = wildcard_grants(template)
    assert "RegistrarPolicy: allows every action (kms:*)" in problems
    assert any(p.startswith("RegistrarPolicy:") and "every resource" in p for p in problems)


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


# Every response type API Gateway lets a REST API customise (its developer guide's list).
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED",
    "API_CONFIGURATION_ERROR",
    "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE",
    "BAD_REQUEST_BODY",
    "BAD_REQUEST_PARAMETERS",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE",
    "RESOURCE_NOT_FOUND",
    "THROTTLED",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "WAF_FILTERED",
}


def gateway_responses_of(resources: dict[str, Any]) -> dict[str, Any]:
    definition = resources["RestAPI"]["Properties"]["DefinitionBody"]
    return definition["x-amazon-apigateway-gateway-responses"]


def rendered(response: dict[str, Any], request_id: str = "req-7") -> dict[str, Any]:
    """The body API Gateway sends: the template with its request id filled in."""
    text = response["responseTemplates"]["application/json"]
    # Nothing else for API Gateway's template language to expand or to take as a directive.
    assert "$" not in text.replace("$context.requestId", "") and "#" not in text
    return json.loads(text.replace("$context.requestId", request_id))


def test_api_gateway_s_own_errors_have_the_api_s_error_shape(template: dict[str, Any]) -> None:
    responses = gateway_responses_of(template["Resources"])
    assert (
        {
            "DEFAULT_4XX",
            "DEFAULT_5XX",
            "MISSING_AUTHENTICATION_TOKEN",
            "INVALID_API_KEY",
            "THROTTLED",
            "REQUEST_TOO_LARGE",
            "UNSUPPORTED_MEDIA_TYPE",
            "INTEGRATION_TIMEOUT",
        }
        <= set(responses)
        <= GATEWAY_RESPONSE_TYPES
    )
    for response_type, response in responses.items():
        body = rendered(response)
        assert list(body) == ["error", "message", "request_id"], response_type
        assert body["error"] and body["message"] and body["request_id"] == "req-7"
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/json'"
    # In the API's definition, so that importing it keeps them and a change redeploys the stage.
    assert not resources_of(template, "AWS::ApiGateway::GatewayResponse")
    api = template["Resources"]["RestAPI"]["Properties"]
    assert (
        api["Name"] == {"Ref": "AWS::StackName"}
        and "/models/{name}/predict" in (api["DefinitionBody"]["paths"])
    )


def test_api_gateway_s_errors_say_what_to_fix(template: dict[str, Any]) -> None:
    import app as app_module

    responses = gateway_responses_of(template["Resources"])
    unknown = rendered(responses["MISSING_AUTHENTICATION_TOKEN"])["message"]
    for path, methods in app_module.app.routes.items():
        for method in methods:
            assert f"{method} {path}" in unknown
    assert "x-api-key" in rendered(responses["INVALID_API_KEY"])["message"]
    throttled = responses["THROTTLED"]
    assert "retry" in rendered(throttled)["message"]
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    assert "split the records" in rendered(responses["REQUEST_TOO_LARGE"])["message"]
    assert rendered(responses["REQUEST_TOO_LARGE"])["error"] == "PayloadTooLarge"
    assert "req-7" in rendered(responses["DEFAULT_5XX"])["message"]


def test_api_gateway_s_errors_follow_the_stage_s_auth_mode() -> None:
    iam = gateway_responses_of(
        merge_template(StageConfig(stage="prod", api_auth="iam"))["Resources"]
    )
    assert {"ACCESS_DENIED", "INVALID_SIGNATURE", "EXPIRED_TOKEN"} <= set(iam)
    assert "INVALID_API_KEY" not in iam
    assert "Signature Version 4" in rendered(iam["MISSING_AUTHENTICATION_TOKEN"])["message"]
    open_api = merge_template(StageConfig(stage="dev", api_auth="none"))["Resources"]
    assert not {"INVALID_API_KEY", "INVALID_SIGNATURE"} & set(gateway_responses_of(open_api))


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
    "AWS::Glue::Database",
    "AWS::Glue::Table",
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
        "/aws/lambda/sklambda-prod-retrain": 30,
        "/aws/lambda/sklambda-prod-aggregate": 30,
    }
    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs["AggregateQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == 6 * 300
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":sklambda-prod-aggregate-dlq")


def test_the_signing_key_alias_and_registrar_policy_deploy_into_moto(stack: Any) -> None:
    (described,) = stack.describe_stacks(StackName="sklambda-prod")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    # moto's CloudFormation makes every KMS key symmetric, and keeps its policy in a form
    # DescribeKey cannot read: the alias is read from the list, the spec on the template.
    kms = boto3.client("kms", region_name="eu-west-1")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    key_id = aliases["alias/sklambda-prod-signing"]
    assert key_id and outputs["SigningKeyArn"].endswith(f":key/{key_id}")
    iam = boto3.client("iam", region_name="eu-west-1")
    policy = iam.get_policy(PolicyArn=outputs["RegistrarPolicyArn"])["Policy"]
    assert policy["PolicyName"] == "sklambda-prod-registrar"


def test_each_landed_file_reaches_the_queue_its_prefix_names_in_moto(
    stack: Any, template: dict[str, Any]
) -> None:
    (described,) = stack.describe_stacks(StackName="sklambda-prod")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    s3 = boto3.client("s3", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    urls = {"BatchQueue": outputs["BatchQueueUrl"], "AggregateQueue": outputs["AggregateQueueUrl"]}
    arns = {
        name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for name, url in urls.items()
    }
    # moto's CloudFormation skips a bucket's notification: apply the template's own with the
    # S3 API, which checks its shape, then see where files go.
    configs = template["Resources"]["DataBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=outputs["DataBucketName"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arns[config["Queue"]["Fn::GetAtt"][0]],
                    "Events": [config["Event"]],
                    "Filter": {"Key": {"FilterRules": config["Filter"]["S3Key"]["Rules"]}},
                }
                for config in configs
            ]
        },
    )
    for url in urls.values():
        sqs.purge_queue(QueueUrl=url)  # the test event S3 sends when a notification is set

    for key in (
        "batch/scored/churn/x.csv",
        "batch/incoming/churn/d.csv",
        "batch/scored/churn/d.csv.manifest.json",
        "batch/errors/churn/d.csv.manifest.json",
        "capture/2026/12/02/10/sklambda-capture-1-2026-12-02-10-00-00-abc.gz",
        "feedback/churn/2026/12/02/f.jsonl",
        "reports/_partials/churn/1/2026-12-02T10.json",
        "training/churn/fresh.csv",
    ):
        s3.put_object(Bucket=outputs["DataBucketName"], Key=key, Body=b"a\n")

    def landed(url: str) -> list[str]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        records = [r for m in messages for r in json.loads(m["Body"])["Records"]]
        return sorted(decode_event_key(r["s3"]["object"]["key"]) for r in records)

    assert landed(urls["BatchQueue"]) == ["batch/incoming/churn/d.csv"]  # never outputs
    # What the monitor aggregates; never its own partials, which would loop.
    assert landed(urls["AggregateQueue"]) == [
        "batch/scored/churn/d.csv.manifest.json",
        "capture/2026/12/02/10/sklambda-capture-1-2026-12-02-10-00-00-abc.gz",
        "feedback/churn/2026/12/02/f.jsonl",
    ]


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _kms_actions(statement: dict[str, Any]) -> list[str]:
    return [a for a in _as_list(statement["Action"]) if a == "*" or a.startswith("kms:")]


def _kms_grants(template: dict[str, Any], grantee: str) -> list[tuple[list[str], Any]]:
    """(kms actions, resource) for each resource of each statement of `grantee` that grants
    a KMS action, from a role's inline policies or a managed policy."""
    return [
        (_kms_actions(statement), resource)
        for name, statement in policy_statements(template)
        if name == grantee and _kms_actions(statement)
        for resource in _as_list(statement["Resource"])
    ]


def _resource_text(resource: Any) -> str:
    if resource == {"Fn::GetAtt": ["SigningKey", "Arn"]}:
        return "SigningKey.Arn"
    return str(resource["Fn::Sub"]).removeprefix("arn:${AWS::Partition}:s3:::")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _object_writes(template: dict[str, Any], role: str) -> set[str]:
    found = set()
    for statement in _statements(template, role):
        if "s3:PutObject" in statement["Action"]:
            for resource in statement["Resource"]:
                found.add(resource["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::"))
    return found


def _object_reads(template: dict[str, Any], role: str) -> set[str]:
    found = set()
    for statement in _statements(template, role):
        if "s3:GetObject" in statement["Action"]:
            for resource in statement["Resource"]:
                found.add(resource["Fn::Sub"].removeprefix("arn:${AWS::Partition}:s3:::"))
    return found


def _mentions(node: Any, names: set[str]) -> bool:
    text = json.dumps(node)
    return any(re.search(rf'"{name}"|\$\{{{name}[.}}]', text) for name in names)
