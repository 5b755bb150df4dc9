"""The CloudFormation resources beside the functions, as the template Chalice merges.

`merge_template(stage)` returns the document `chalice package --merge-template` deep-merges
into its SAM template: new resources (buckets, batch queue and DLQ, capture stream, alarms,
dashboard, API key) plus additions to Chalice's own (function names, bucket and queue
environment, the SQS trigger's queue and partial-batch responses). One deploy creates all of it.

Buckets get fixed names, `<stack>-models-<account>-<region>` and `-data-`, because the
batch queue's policy must name the data bucket before the bucket exists (the bucket's
notification needs the policy first: a Ref would be a cycle). Both are kept when the stack
is deleted (DeletionPolicy Retain): data outlives deployments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklambda.infra.dashboard import dashboard_body

# Chalice's logical ids for the app's functions and API (see `chalice package` output).
API_FUNCTION = "APIHandler"
BATCH_FUNCTION = "ScoreBatch"
MONITOR_FUNCTION = "MonitorModels"
REST_API = "RestAPI"
# Function name suffixes: the policy files scope log writes to /aws/lambda/<stack>-<suffix>.
FUNCTION_SUFFIXES = {API_FUNCTION: "api", BATCH_FUNCTION: "batch", MONITOR_FUNCTION: "monitor"}
API_STAGE = "api"
NAMESPACE = "sklambda"
# The batch queue hides a message for this many times the worker's timeout (AWS advises 6).
VISIBILITY_FACTOR = 6
DEFAULT_TIMEOUT = 60  # Chalice's default lambda_timeout


@dataclass(frozen=True)
class StageConfig:
    """What the template needs to know of a Chalice stage."""

    stage: str
    api_auth: str = "api_key"
    models_prefix: str = "models/"
    batch_prefix: str = "batch/"
    capture_prefix: str = "capture/"
    reports_prefix: str = "reports/"
    batch_timeout: int = 900
    batch_max_receives: int = 3

    @classmethod
    def from_chalice(cls, project_dir: Path, stage: str) -> StageConfig:
        """Read .chalice/config.json the way Chalice layers it: top level, then the stage."""
        config = json.loads((project_dir / ".chalice" / "config.json").read_text())
        stages = config.get("stages", {})
        if stage not in stages:
            known = ", ".join(sorted(stages)) or "none"
            raise ValueError(f"stage {stage!r} is not in .chalice/config.json (stages: {known})")
        env = {**config.get("environment_variables", {})}
        env.update(stages[stage].get("environment_variables", {}))
        batch = {**config.get("lambda_functions", {}).get("score_batch", {})}
        batch.update(stages[stage].get("lambda_functions", {}).get("score_batch", {}))
        timeout = batch.get("lambda_timeout")
        if timeout is None:
            timeout = stages[stage].get("lambda_timeout", config.get("lambda_timeout"))
        return cls(
            stage=stage,
            api_auth=env.get("SKLAMBDA_API_AUTH", "api_key"),
            models_prefix=env.get("SKLAMBDA_MODELS_PREFIX", "models/"),
            batch_prefix=env.get("SKLAMBDA_BATCH_PREFIX", "batch/"),
            capture_prefix=env.get("SKLAMBDA_CAPTURE_PREFIX", "capture/"),
            reports_prefix=env.get("SKLAMBDA_REPORTS_PREFIX", "reports/"),
            batch_timeout=int(timeout or DEFAULT_TIMEOUT),
            batch_max_receives=int(env.get("SKLAMBDA_BATCH_MAX_RECEIVES", "3")),
        )


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


MODELS_BUCKET_NAME = "${AWS::StackName}-models-${AWS::AccountId}-${AWS::Region}"
DATA_BUCKET_NAME = "${AWS::StackName}-data-${AWS::AccountId}-${AWS::Region}"


def merge_template(config: StageConfig) -> dict[str, Any]:
    """The whole document to merge into Chalice's template."""
    resources: dict[str, Any] = {}
    resources.update(encryption_key())
    resources.update(buckets(config))
    resources.update(batch_queue(config))
    resources.update(capture(config))
    resources.update(log_groups())
    resources.update(alarms())
    resources.update({"Dashboard": dashboard()})
    resources.update(api_auth(config))
    resources.update(function_additions(config))
    return {
        "Parameters": parameters(),
        "Conditions": {
            "UseKms": {"Fn::Equals": [ref("EncryptionMode"), "KMS"]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
        },
        "Resources": resources,
        "Outputs": outputs(config),
    }


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
    }


# -- encryption ---------------------------------------------------------------------------
def encryption_key() -> dict[str, Any]:
    """A customer key for the buckets when EncryptionMode is KMS.

    Like S3's managed key, it may be used by principals of this account through S3 only;
    what they can read is still decided by their S3 permissions.
    """
    admin = [
        "kms:Create*",
        "kms:Describe*",
        "kms:Enable*",
        "kms:List*",
        "kms:Put*",
        "kms:Update*",
        "kms:Revoke*",
        "kms:Disable*",
        "kms:Get*",
        "kms:Delete*",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
    ]
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": admin,
                "Resource": "*",
            },
            {
                "Sid": "UseThroughS3InThisAccount",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [*use, "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": ref("AWS::AccountId"),
                        "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
                    }
                },
            },
        ],
    }
    return {
        "DataKey": {
            "Type": "AWS::KMS::Key",
            "Condition": "UseKms",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": sub("sklambda ${AWS::StackName}: model and data buckets"),
                "EnableKeyRotation": True,
                "KeyPolicy": policy,
            },
        }
    }


def _bucket_encryption() -> dict[str, Any]:
    kms = {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": arn_of("DataKey"),
    }
    return {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {
                    "Fn::If": ["UseKms", kms, {"SSEAlgorithm": "AES256"}]
                },
                # Bucket keys cut KMS requests (and cost) by orders of magnitude.
                "BucketKeyEnabled": {"Fn::If": ["UseKms", True, False]},
            }
        ]
    }


# -- buckets ------------------------------------------------------------------------------
def buckets(config: StageConfig) -> dict[str, Any]:
    """Private, encrypted, versioned buckets, TLS only; data is kept when the stack goes."""
    batch = config.batch_prefix
    models_rules = [
        {
            "Id": "ExpireOldVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]
    data_rules = [
        {
            "Id": "ExpireCapture",
            "Status": "Enabled",
            "Prefix": config.capture_prefix,
            "ExpirationInDays": ref("CaptureRetentionDays"),
        },
        {
            "Id": "ExpireBatchParts",
            "Status": "Enabled",
            "Prefix": f"{batch}_jobs/",
            "ExpirationInDays": ref("TemporaryRetentionDays"),
        },
        {
            "Id": "ExpireOldVersionsAndUploads",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "AbortIncompleteMultipartUpload": {
                "DaysAfterInitiation": ref("TemporaryRetentionDays")
            },
        },
    ]
    models = _bucket(MODELS_BUCKET_NAME, models_rules)
    data = _bucket(DATA_BUCKET_NAME, data_rules)
    data["DependsOn"] = ["BatchQueuePolicy"]  # S3 checks it may send before it saves this
    data["Properties"]["NotificationConfiguration"] = {
        "QueueConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Queue": arn_of("BatchQueue"),
                # Only the incoming prefix: outputs must never trigger the scorer again.
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": f"{batch}incoming/"}]}},
            }
        ]
    }
    return {
        "ModelsBucket": models,
        "ModelsBucketPolicy": _tls_only_policy("ModelsBucket"),
        "DataBucket": data,
        "DataBucketPolicy": _tls_only_policy("DataBucket"),
    }


def _bucket(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": sub(name),
            "BucketEncryption": _bucket_encryption(),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": rules},
        },
    }


def tls_only_statement(service: str, resource: Any) -> dict[str, Any]:
    """Deny every request to `resource` that does not come over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": f"{service}:*",
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _tls_only_policy(bucket: str) -> dict[str, Any]:
    bucket_arn = arn_of(bucket)
    objects = {"Fn::Sub": ["${Arn}/*", {"Arn": bucket_arn}]}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [tls_only_statement("s3", [bucket_arn, objects])],
            },
        },
    }


# -- batch queue --------------------------------------------------------------------------
def batch_queue(config: StageConfig) -> dict[str, Any]:
    """The data bucket's incoming files queue up here; failures end in the DLQ, kept 14 days."""
    visibility = VISIBILITY_FACTOR * config.batch_timeout
    return {
        "BatchDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-batch-dlq"),
                "MessageRetentionPeriod": 14 * 24 * 3600,
                "SqsManagedSseEnabled": True,
            },
        },
        "BatchQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": sub("${AWS::StackName}-batch"),
                "VisibilityTimeout": visibility,
                "MessageRetentionPeriod": 4 * 24 * 3600,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": arn_of("BatchDeadLetterQueue"),
                    "maxReceiveCount": config.batch_max_receives,
                },
            },
        },
        "BatchQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("BatchQueue")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DataBucketNotifies",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn_of("BatchQueue"),
                            "Condition": {
                                "ArnEquals": {
                                    "aws:SourceArn": sub(
                                        f"arn:${{AWS::Partition}}:s3:::{DATA_BUCKET_NAME}"
                                    )
                                },
                                "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
                            },
                        },
                        tls_only_statement("sqs", arn_of("BatchQueue")),
                    ],
                },
            },
        },
    }


# -- capture ------------------------------------------------------------------------------
CAPTURE_FILTER = "{ $.sklambda_capture = 1 }"


def capture(config: StageConfig) -> dict[str, Any]:
    """API log lines marked as capture → subscription filter → Firehose → capture/ prefix.

    Firehose unzips the CloudWatch Logs batches and keeps only the messages, so objects hold
    one capture record per line, under capture/YYYY/MM/DD/HH/ (UTC), gzipped.
    """
    prefix = config.capture_prefix
    data_arn = arn_of("DataBucket")
    stream = {
        "Type": "AWS::KinesisFirehose::DeliveryStream",
        "Properties": {
            "DeliveryStreamName": sub("${AWS::StackName}-capture"),
            "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
            "ExtendedS3DestinationConfiguration": {
                "BucketARN": data_arn,
                "RoleARN": arn_of("CaptureDeliveryRole"),
                "Prefix": prefix,
                "ErrorOutputPrefix": f"{prefix.rstrip('/')}_errors/",
                "CompressionFormat": "GZIP",
                "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64},
                "ProcessingConfiguration": {
                    "Enabled": True,
                    "Processors": [
                        {
                            "Type": "Decompression",
                            "Parameters": [
                                {"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}
                            ],
                        },
                        {
                            "Type": "CloudWatchLogProcessing",
                            "Parameters": [
                                {"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}
                            ],
                        },
                        {"Type": "AppendDelimiterToRecord"},
                    ],
                },
            },
        },
    }
    capture_objects = {"Fn::Sub": [f"${{Arn}}/{prefix.rstrip('/')}*", {"Arn": data_arn}]}
    delivery_role = _service_role(
        "firehose.amazonaws.com",
        "WriteCapture",
        [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [capture_objects],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                "Resource": [data_arn],
            },
        ],
    )
    logs_role = _service_role(
        "logs.amazonaws.com",
        "ForwardCapture",
        [
            {
                "Effect": "Allow",
                "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                "Resource": [arn_of("CaptureStream")],
            }
        ],
        source_arn=sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"),
    )
    return {
        "CaptureStream": stream,
        "CaptureDeliveryRole": delivery_role,
        "CaptureLogsRole": logs_role,
        "CaptureSubscription": {
            "Type": "AWS::Logs::SubscriptionFilter",
            "Properties": {
                "LogGroupName": ref("ApiLogGroup"),
                "FilterPattern": CAPTURE_FILTER,
                "DestinationArn": arn_of("CaptureStream"),
                "RoleArn": arn_of("CaptureLogsRole"),
            },
        },
    }


def _service_role(
    service: str, policy_name: str, statements: list[dict[str, Any]], source_arn: Any = None
) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    if source_arn is not None:
        condition = {"ArnLike": {"aws:SourceArn": source_arn}}
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "sts:AssumeRole",
                        "Condition": condition,
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": policy_name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def log_groups() -> dict[str, Any]:
    """The functions' log groups, made here so they have a retention and a capture filter."""
    return {
        f"{key.title()}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": sub(f"/aws/lambda/${{AWS::StackName}}-{key}"),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        }
        for key in FUNCTION_SUFFIXES.values()
    }


# -- alarms -------------------------------------------------------------------------------
def alarms() -> dict[str, Any]:
    """An SNS topic and the alarms that page it (and tell it when they clear)."""
    topic = ref("AlarmTopic")
    common = {
        "ActionsEnabled": True,
        "AlarmActions": [topic],
        "OKActions": [topic],
    }

    def alarm(description: str, **properties: Any) -> dict[str, Any]:
        return {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": sub(f"${{AWS::StackName}}-{description.split(':')[0]}"),
                "AlarmDescription": description,
                **common,
                **properties,
            },
        }

    api_name = [{"Name": "ApiName", "Value": ref("AWS::StackName")}]
    insights = _insights_alarm
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"DisplayName": sub("sklambda ${AWS::StackName} alarms")},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {"TopicArn": topic, "Protocol": "email", "Endpoint": ref("AlarmEmail")},
        },
        "ApiServerErrorRateAlarm": alarm(
            "api-5xx-rate: share of API requests answered with a 5xx is over the threshold",
            Namespace="AWS/ApiGateway",
            MetricName="5XXError",
            Dimensions=api_name,
            Statistic="Average",  # 5XXError is 0 or 1 per request: its average is the rate
            Period=300,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=ref("ApiErrorRateThreshold"),
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
        "ApiLatencyAlarm": alarm(
            "api-p99-latency: the API's p99 latency is over the threshold (ms)",
            Namespace="AWS/ApiGateway",
            MetricName="Latency",
            Dimensions=api_name,
            ExtendedStatistic="p99",
            Period=300,
            EvaluationPeriods=3,
            DatapointsToAlarm=2,
            Threshold=ref("ApiLatencyP99Threshold"),
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
        "BatchDeadLetterAlarm": alarm(
            "batch-dlq-not-empty: batch messages failed every retry; see the DLQ",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[
                {
                    "Name": "QueueName",
                    "Value": {"Fn::GetAtt": ["BatchDeadLetterQueue", "QueueName"]},
                }
            ],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
        "BatchFilesFailedAlarm": alarm(
            "batch-files-failed: a batch file failed; its manifest says why",
            **insights("SUM(BatchFilesFailed)", "Model, Submitter, Version", 300),
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
        "DriftAlarm": alarm(
            "model-drift: the monitor flagged drift in a model's inputs or predictions",
            **insights("MAX(DriftDetected)", "Model, Version", 3600),
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            # Drift is a state: it stays raised until a run says otherwise.
            TreatMissingData="ignore",
        ),
        "AccuracyFloorAlarm": alarm(
            "accuracy-below-floor: a model's accuracy (R2) fell under its policy's floor",
            **insights("MAX(AccuracyBelowFloor)", "Model, Version", 3600),
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="ignore",
        ),
        "MonitorFailuresAlarm": alarm(
            "monitor-failures: the scheduled monitor failed for a model; see its log",
            **insights("SUM(MonitorFailures)", "Model", 3600),
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
        "MonitorErrorsAlarm": alarm(
            "monitor-errors: the monitor function itself failed or timed out",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": ref(MONITOR_FUNCTION)}],
            Statistic="Sum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        ),
    }


def _insights_alarm(aggregate: str, dimensions: str, period: int) -> dict[str, Any]:
    # A Metrics Insights query aggregates every model and version, including ones
    # registered after the deploy; GROUP BY Model makes each model its own contributor.
    query = f'SELECT {aggregate} FROM SCHEMA("{NAMESPACE}", {dimensions}) GROUP BY Model'
    return {"Metrics": [{"Id": "q1", "Expression": query, "Period": period, "ReturnData": True}]}


def dashboard() -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": sub("${AWS::StackName}"),
            "DashboardBody": dashboard_body(),
        },
    }


# -- API auth -----------------------------------------------------------------------------
def api_auth(config: StageConfig) -> dict[str, Any]:
    """A usage plan and a first API key for api_key mode; IAM mode needs nothing here."""
    if config.api_auth != "api_key":
        return {}
    stage_id = f"{REST_API}{API_STAGE}Stage"  # the stage SAM makes for the API
    return {
        "ApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "DependsOn": [stage_id],
            "Properties": {
                "Name": sub("${AWS::StackName}-default"),
                "Description": "First consumer key; add one per consumer for chargeback",
                "Enabled": True,
            },
        },
        "UsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "DependsOn": [stage_id],
            "Properties": {
                "UsagePlanName": sub("${AWS::StackName}"),
                "ApiStages": [{"ApiId": ref(REST_API), "Stage": API_STAGE}],
                "Throttle": {"RateLimit": 100, "BurstLimit": 200},
            },
        },
        "UsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": ref("ApiKey"),
                "KeyType": "API_KEY",
                "UsagePlanId": ref("UsagePlan"),
            },
        },
    }


# -- additions to Chalice's resources -----------------------------------------------------
def function_additions(config: StageConfig) -> dict[str, Any]:
    """Names, environment and triggers Chalice cannot know: they point at resources here."""
    environment = {
        "SKLAMBDA_MODELS_BUCKET": ref("ModelsBucket"),
        "SKLAMBDA_DATA_BUCKET": ref("DataBucket"),
        "SKLAMBDA_BATCH_QUEUE": {"Fn::GetAtt": ["BatchQueue", "QueueName"]},
        "SKLAMBDA_BATCH_MAX_RECEIVES": str(config.batch_max_receives),
        "SKLAMBDA_CAPTURE_STREAM": ref("CaptureStream"),
    }
    additions: dict[str, Any] = {
        logical: {
            "Properties": {
                "FunctionName": sub(f"${{AWS::StackName}}-{suffix}"),
                "Environment": {"Variables": environment},
            },
            # The log group (retention, capture filter) must exist before the first line.
            "DependsOn": [f"{suffix.title()}LogGroup"],
        }
        for logical, suffix in FUNCTION_SUFFIXES.items()
    }
    additions[BATCH_FUNCTION]["Properties"]["Events"] = {
        "ScoreBatchSqsEventSource": {
            "Properties": {
                # (Its Queue is set by infra.template: a merge would mix it with Chalice's.)
                # A failed file is retried alone; the others in the batch are done.
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": ref("BatchMaxConcurrency")},
            }
        }
    }
    additions[REST_API] = {"Properties": {"Name": ref("AWS::StackName")}}
    return additions


def outputs(config: StageConfig) -> dict[str, Any]:
    found = {
        "ModelsBucketName": ref("ModelsBucket"),
        "DataBucketName": ref("DataBucket"),
        "BatchQueueUrl": ref("BatchQueue"),
        "BatchDeadLetterQueueUrl": ref("BatchDeadLetterQueue"),
        "CaptureStreamName": ref("CaptureStream"),
        "AlarmTopicArn": ref("AlarmTopic"),
        "DashboardUrl": sub(
            "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
            "?region=${AWS::Region}#dashboards:name=${Dashboard}"
        ),
    }
    if config.api_auth == "api_key":
        found["ApiKeyId"] = ref("ApiKey")
    return {name: {"Value": value} for name, value in found.items()}
