"""What operators watch: the alarm topic, the alarms that page it, and the dashboard."""

from __future__ import annotations

from typing import Any

from chalicelib.core import NAMESPACE
from sklambda.infra.dashboard import dashboard_body
from sklambda.infra.resources._chalice import (
    AGGREGATE_FUNCTION,
    MONITOR_FUNCTION,
    RETRAIN_FUNCTION,
)
from sklambda.infra.resources._intrinsics import ref, sub

# How an alarm decides, given its metric and period. Any occurrence in one period pages: a
# message in a DLQ, a failed batch file, a failed monitor run, a failed monitor, retraining or
# aggregating invocation.
_ON_ANY: dict[str, Any] = {
    "EvaluationPeriods": 1,
    "Threshold": 0,
    "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "notBreaching",
}
# A flag the monitor raises (drift, accuracy under the floor) is a state: it stays raised
# until a run says otherwise, so the hours between runs leave the alarm as it is.
_WHILE_RAISED: dict[str, Any] = {
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "ignore",
}


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

    def function_errors(description: str, function: str) -> dict[str, Any]:
        """Invocations of one function that failed, ran out of memory or out of time."""
        return alarm(
            description,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": ref(function)}],
            Statistic="Sum",
            Period=3600,
            **_ON_ANY,
        )

    def dead_letters(description: str, queue: str) -> dict[str, Any]:
        """Messages in a dead-letter queue: they failed every attempt."""
        return alarm(
            description,
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            Statistic="Maximum",
            Period=300,
            **_ON_ANY,
        )

    api_name = [{"Name": "ApiName", "Value": ref("AWS::StackName")}]
    over_threshold = _over_threshold
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
            **over_threshold("ApiErrorRateThreshold"),
        ),
        "ApiLatencyAlarm": alarm(
            "api-p99-latency: the API's p99 latency is over the threshold (ms)",
            Namespace="AWS/ApiGateway",
            MetricName="Latency",
            Dimensions=api_name,
            ExtendedStatistic="p99",
            **over_threshold("ApiLatencyP99Threshold"),
        ),
        "BatchDeadLetterAlarm": dead_letters(
            "batch-dlq-not-empty: batch messages failed every retry; see the DLQ",
            "BatchDeadLetterQueue",
        ),
        "BatchFilesFailedAlarm": alarm(
            "batch-files-failed: a batch file failed; its manifest says why",
            **insights("SUM(BatchFilesFailed)", "Model, Submitter, Version", 300),
            **_ON_ANY,
        ),
        "DriftAlarm": alarm(
            "model-drift: the monitor flagged drift in a model's inputs or predictions",
            **insights("MAX(DriftDetected)", "Model, Version", 3600),
            **_WHILE_RAISED,
        ),
        "AccuracyFloorAlarm": alarm(
            "accuracy-below-floor: a model's accuracy (R2) fell under its policy's floor",
            **insights("MAX(AccuracyBelowFloor)", "Model, Version", 3600),
            **_WHILE_RAISED,
        ),
        "MonitorFailuresAlarm": alarm(
            "monitor-failures: the scheduled monitor failed for a model; see its log",
            **insights("SUM(MonitorFailures)", "Model", 3600),
            **_ON_ANY,
        ),
        "MonitorErrorsAlarm": function_errors(
            "monitor-errors: the monitor function itself failed or timed out",
            MONITOR_FUNCTION,
        ),
        # A retrain that fails cleanly is in the model's history; these are the ones that
        # crashed, ran out of memory or out of time (then gave up: the retrain DLQ).
        "RetrainErrorsAlarm": function_errors(
            "retrain-errors: the retraining function failed, ran out of memory or time",
            RETRAIN_FUNCTION,
        ),
        "RetrainDeadLetterAlarm": dead_letters(
            "retrain-dlq-not-empty: a retrain request failed every attempt; see the DLQ",
            "RetrainDeadLetterQueue",
        ),
        # An object it fails to add is handed back and retried (partial batch response), and
        # the monitor reads it itself meanwhile; these are the invocations that crashed, ran
        # out of memory or out of time, and the objects that failed every attempt.
        "AggregateErrorsAlarm": function_errors(
            "aggregate-errors: the aggregating function failed, ran out of memory or time",
            AGGREGATE_FUNCTION,
        ),
        "AggregateDeadLetterAlarm": dead_letters(
            "aggregate-dlq-not-empty: a landed object failed every aggregation; see the DLQ",
            "AggregateDeadLetterQueue",
        ),
    }


def _over_threshold(parameter: str) -> dict[str, Any]:
    # Two of three five-minute periods over the operator's threshold: one slow or failing
    # burst does not page.
    return {
        "Period": 300,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
        "Threshold": ref(parameter),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def _insights_alarm(aggregate: str, dimensions: str, period: int) -> dict[str, Any]:
    # A Metrics Insights query aggregates every model and version, including ones
    # registered after the deploy; GROUP BY Model makes each model its own contributor.
    query = f'SELECT {aggregate} FROM SCHEMA("{NAMESPACE}", {dimensions}) GROUP BY Model'
    return {"Metrics": [{"Id": "q1", "Expression": query, "Period": period, "ReturnData": True}]}


def dashboard() -> dict[str, Any]:
    """The CloudWatch dashboard (its body: `sklambda.infra.dashboard`)."""
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": sub("${AWS::StackName}"),
            "DashboardBody": dashboard_body(),
        },
    }
