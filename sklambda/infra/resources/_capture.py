"""Request capture: the API's marked log lines, through Firehose, into the data bucket."""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._chalice import StageConfig
from sklambda.infra.resources._intrinsics import arn_of, ref, sub

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
