"""The whole document Chalice merges: parameters, conditions, every family's resources, outputs."""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._aggregate_queue import aggregate_queue
from sklambda.infra.resources._alarms import alarms, dashboard
from sklambda.infra.resources._api import api_auth
from sklambda.infra.resources._batch_queue import batch_queue
from sklambda.infra.resources._buckets import buckets, encryption_key
from sklambda.infra.resources._capture import capture
from sklambda.infra.resources._capture_table import CAPTURE_DATABASE, CAPTURE_TABLE, capture_table
from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._functions import function_additions, log_groups
from sklambda.infra.resources._gateway_responses import gateway_responses
from sklambda.infra.resources._intrinsics import arn_of, ref, sub
from sklambda.infra.resources._registrar import REGISTRAR_POLICY, registrar_policy
from sklambda.infra.resources._retrain_queue import retrain_queue
from sklambda.infra.resources._signing import SIGNING_KEY, signing_key


def merge_template(config: StageConfig) -> dict[str, Any]:
    """The whole document to merge into Chalice's template."""
    resources: dict[str, Any] = {}
    for family in (
        encryption_key(),
        buckets(config),
        signing_key(),
        registrar_policy(config),
        batch_queue(config),
        retrain_queue(),
        aggregate_queue(),
        capture(config),
        capture_table(config),
        log_groups(),
        alarms(),
        {"Dashboard": dashboard()},
        api_auth(config),
        function_additions(config),
        gateway_responses(config),
    ):
        _merge_into(resources, family)
    return {
        "Parameters": parameters(),
        "Conditions": {
            "UseKms": {"Fn::Equals": [ref("EncryptionMode"), "KMS"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
        },
        "Resources": resources,
        "Outputs": outputs(config),
    }


def _merge_into(target: dict[str, Any], addition: dict[str, Any]) -> None:
    """Dicts merge, so two families may add to one of Chalice's resources (the API)."""
    for key, value in addition.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def parameters() -> dict[str, Any]:
    """Settings an operator may change at deploy time; the defaults are production-sane."""
    return {
        "EncryptionMode": {
            "Type": "String",
            "AllowedValues": ["SSE-S3", "KMS"],
            "Default": "SSE-S3",
            "Description": "Bucket encryption: S3-managed keys, or a customer key made here",
        },
        "AlarmEmail": {
            "Type": "String",
            "Default": "",
            "Description": "Subscribe this address to the alarm topic (empty: none)",
        },
        "ApiErrorRateThreshold": {
            "Type": "Number",
            "Default": 0.05,
            "MinValue": 0,
            "MaxValue": 1,
            "Description": "Alarm when this share of API requests fail with a 5xx",
        },
        "ApiLatencyP99Threshold": {
            "Type": "Number",
            "Default": 1000,
            "MinValue": 1,
            "Description": "Alarm when the API's p99 latency exceeds this many milliseconds",
        },
        "CaptureRetentionDays": {
            "Type": "Number",
            "Default": 90,
            "MinValue": 1,
            "Description": "Days captured requests are kept (the monitor reads the last 14)",
        },
        "RetiredArtifactsDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 0,
            "Description": "Days after which a retired version's artifacts move to Glacier "
            "Instant Retrieval (sklambda retire tags them)",
        },
        "TemporaryRetentionDays": {
            "Type": "Number",
            "Default": 7,
            "MinValue": 1,
            "Description": "Days the batch scorer's part files and stale uploads are kept",
        },
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653],
            "Description": "Days the functions' logs are kept",
        },
        "BatchMaxConcurrency": {
            "Type": "Number",
            "Default": 10,
            "MinValue": 2,
            "MaxValue": 1000,
            "Description": "Most batch scorers running at once (back-pressure on big drops)",
        },
        "RetrainMemorySize": {
            "Type": "Number",
            "Default": 3008,
            "MinValue": 128,
            "MaxValue": 10240,
            "Description": "MB of the retraining function (Lambda's most: 10240); a retrain "
            "holds all of a model's training data and the fitted model",
        },
    }


def outputs(config: StageConfig) -> dict[str, Any]:
    """What the stack reports: bucket, queues and stream names, the capture's SQL table, the
    alarm topic, dashboard, API key, and what the people who register models need: the
    signing key and their policy."""
    found = {
        "ModelsBucketName": ref("ModelsBucket"),
        "DataBucketName": ref("DataBucket"),
        "BatchQueueUrl": ref("BatchQueue"),
        "BatchDeadLetterQueueUrl": ref("BatchDeadLetterQueue"),
        "RetrainQueueUrl": ref("RetrainQueue"),
        "RetrainDeadLetterQueueUrl": ref("RetrainDeadLetterQueue"),
        "AggregateQueueUrl": ref("AggregateQueue"),
        "AggregateDeadLetterQueueUrl": ref("AggregateDeadLetterQueue"),
        "CaptureStreamName": ref("CaptureStream"),
        "CaptureDatabaseName": ref(CAPTURE_DATABASE),
        "CaptureTableName": ref(CAPTURE_TABLE),  # a Glue table's Ref is its name
        "AlarmTopicArn": ref("AlarmTopic"),
        "SigningKeyArn": arn_of(SIGNING_KEY),
        "RegistrarPolicyArn": ref(REGISTRAR_POLICY),  # a managed policy's Ref is its ARN
        "DashboardUrl": sub(
            "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            "?region=${AWS::Region}#dashboards:name=${Dashboard}"
        ),
    }
    if config.api_auth == "api_key":
        found["ApiKeyId"] = ref("ApiKey")
    return {name: {"Value": value} for name, value in found.items()}
