"""The functions' log groups, and what the template adds to Chalice's functions and API."""

from __future__ import annotations

from typing import Any

from sklambda.infra.resources._chalice import (
    AGGREGATE_FUNCTION,
    BATCH_FUNCTION,
    FUNCTION_SUFFIXES,
    REST_API,
    RETRAIN_FUNCTION,
    StageConfig,
)
from sklambda.infra.resources._intrinsics import arn_of, ref, sub
from sklambda.infra.resources._signing import SIGNING_KEY


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


def function_additions(config: StageConfig) -> dict[str, Any]:
    """Names, environment and triggers Chalice cannot know: they point at resources here."""
    environment = {
        "SKLAMBDA_MODELS_BUCKET": ref("ModelsBucket"),
        "SKLAMBDA_DATA_BUCKET": ref("DataBucket"),
        "SKLAMBDA_BATCH_QUEUE": {"Fn::GetAtt": ["BatchQueue", "QueueName"]},
        "SKLAMBDA_BATCH_MAX_RECEIVES": str(config.batch_max_receives),
        "SKLAMBDA_BATCH_RESERVE_SECONDS": str(config.batch_reserve_seconds),
        "SKLAMBDA_RETRAIN_QUEUE": {"Fn::GetAtt": ["RetrainQueue", "QueueName"]},
        # A queue's Ref is its URL: the monitor sends without looking it up (sqs:GetQueueUrl).
        "SKLAMBDA_RETRAIN_QUEUE_URL": ref("RetrainQueue"),
        "SKLAMBDA_AGGREGATE_QUEUE": {"Fn::GetAtt": ["AggregateQueue", "QueueName"]},
        "SKLAMBDA_CAPTURE_STREAM": ref("CaptureStream"),
        # The key's ARN, not its alias: an alias can be pointed at another key.
        "SKLAMBDA_SIGNING_KEY": arn_of(SIGNING_KEY),
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
    # Each landed object is added on its own (an object's failure hands back its message
    # only); its memory, 1,769 MB (.chalice/config.json), is one full vCPU: a capture delivery
    # is a few MB of gzipped JSON lines parsed and binned at once, a batch manifest means
    # reading the file's rows, and CPU, not memory, is what bounds both.
    additions[AGGREGATE_FUNCTION]["Properties"]["Events"] = {
        "AggregateArrivalsSqsEventSource": {
            "Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
        }
    }
    # A retrain holds the training data and a fitted model at once: its memory is the
    # operator's to size (RetrainMemorySize), apart from the other functions'.
    additions[RETRAIN_FUNCTION]["Properties"]["MemorySize"] = ref("RetrainMemorySize")
    additions[REST_API] = {"Properties": {"Name": ref("AWS::StackName")}}
    return additions
