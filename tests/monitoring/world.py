"""The monitoring tests' world: a registered champion, traffic scored through the real
server with its capture delivered to S3 as Firehose would, batch files scored as the batch
function does, and the monitor."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from chalicelib.monitoring import MonitorRun
from chalicelib.registry import Registry
from chalicelib.services import monitor as build_monitor
from chalicelib.serving import Capturer, LogCaptureSink, ModelServer, RequestInfo
from chalicelib.storage import AwsClients, ObjectStore
from sklambda.sample_data import FEATURES, TARGET
from tests.conftest import DATA_BUCKET
from tests.models import fitted_logreg, training_frame

MODEL = "churn"


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    return rows.to_dict("records")


class MonitorWorld:
    """A registered champion, traffic scored through the real server, and the monitor."""

    def __init__(self, aws: AwsClients, registry: Registry) -> None:
        self.aws = aws
        self.registry = registry
        self.data = ObjectStore(aws.s3, DATA_BUCKET)
        self.cloudwatch = aws.client("cloudwatch")
        self.captured = io.StringIO()
        self.server = ModelServer(registry, Capturer(LogCaptureSink(self.captured)), ttl_seconds=0)
        self.monitor = build_monitor(aws, registry)
        self.objects = 0
        self.runs = 0

    def register(self, name: str = MODEL, estimator: Any = None, frame: Any = None) -> int:
        frame = training_frame() if frame is None else frame
        target = TARGET if estimator is None else "monthly_charges"
        version = self.registry.register(name, estimator or fitted_logreg(), frame, target)[
            "version"
        ]
        return int(version)

    def traffic(
        self,
        frame: pd.DataFrame,
        name: str = MODEL,
        per_request: int = 100,
        delivered: datetime | None = None,
    ) -> list[dict]:
        """Score the rows over the server; capture lands in S3 (in `delivered`'s hour)."""
        responses = []
        records = as_records(frame)
        for start in range(0, len(records), per_request):
            body = json.dumps({"records": records[start : start + per_request]})
            info = RequestInfo(request_id=f"r{start}", consumer="tests")
            responses.append(self.server.predict(name, body, "application/json", {}, info))
        self.flush_capture(delivered)
        return responses

    def flush_capture(self, delivered: datetime | None = None) -> None:
        """What Firehose does: the capture lines, delivered under the hour's prefix."""
        lines = self.captured.getvalue()
        self.captured.seek(0)
        self.captured.truncate()
        if lines:
            hour = delivered or datetime.now(UTC)
            self.objects += 1
            key = f"capture/{hour:%Y/%m/%d/%H}/sklambda-capture-{self.objects}"
            self.data.put_bytes(key, lines.encode())

    def run(self, *names: str, event_id: str | None = None, minutes: int = 1) -> dict:
        """A scheduled run (a distinct event each time, unless event_id is given)."""
        self.runs += 1
        at = datetime.now(UTC) + timedelta(minutes=minutes * self.runs)
        run = MonitorRun(event_id or f"event-{self.runs}", at, "schedule", 24)
        return self.monitor.run(names or [MODEL], run)

    def retrain(self) -> list[dict[str, Any]]:
        """The retraining function, fed the retrain queue one message at a time as the stack's
        event source mapping does; what it did with each message."""
        from chalicelib.rollout import handle_retrain_event
        from chalicelib.services import retrainer
        from sklambda.local.events import drain

        sqs = self.aws.client("sqs")
        url = sqs.get_queue_url(QueueName=self.aws.settings.retrain_queue)["QueueUrl"]
        service = retrainer(self.aws, self.registry)
        done: list[dict[str, Any]] = []

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            result = handle_retrain_event(service, event)
            done.extend(result["retrains"])
            return result

        drain(sqs, url, handler, batch_size=1)
        return done

    def report(self, name: str = MODEL) -> dict:
        report = self.monitor.latest_report(name)
        assert report is not None
        return report

    def metric(self, metric: str, **dimensions: str) -> list[float]:
        now = datetime.now(UTC)
        response = self.cloudwatch.get_metric_statistics(
            Namespace="sklambda",
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=2),
            Period=60,
            Statistics=["Maximum", "SampleCount"],
        )
        return [p["Maximum"] for p in response["Datapoints"]]


def features(report: dict, version: int = 1) -> dict[str, dict]:
    entry = next(v for v in report["versions"] if v["version"] == version)
    return {f["name"]: f for f in entry["features"]}


def version_entry(report: dict, version: int = 1) -> dict:
    return next(v for v in report["versions"] if v["version"] == version)


def score_batch_file(aws: AwsClients, key: str, frame: pd.DataFrame) -> None:
    """Drop `frame` as a CSV batch file and score it as the batch function does."""
    from chalicelib.batch import ObjectEvent
    from chalicelib.services import batch_scorer

    aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=frame.to_csv(index=False).encode())
    head = aws.s3.head_object(Bucket=DATA_BUCKET, Key=key)
    event = ObjectEvent(
        bucket=DATA_BUCKET,
        key=key,
        etag=head["ETag"].strip('"'),
        size=head["ContentLength"],
        version_id=None,
        sequencer="01",
        submitter="analyst",
    )
    assert batch_scorer(aws).process(event)["status"] == "succeeded"
