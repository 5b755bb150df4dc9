"""Builds the long-lived services a Lambda container reuses across invocations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.core import ConfigError
from chalicelib.registry import Registry, open_registry
from chalicelib.serving import (
    Capturer,
    CaptureSink,
    FirehoseCaptureSink,
    LogCaptureSink,
    ModelServer,
    NoCaptureSink,
)
from chalicelib.storage import AwsClients, ObjectStore

if TYPE_CHECKING:
    from chalicelib.batch import BatchScorer
    from chalicelib.monitoring import (
        Arrivals,
        CatalogSources,
        Monitor,
        MonitorSources,
        PredictionLookup,
    )
    from chalicelib.rollout import Retrainer, RetrainRequests


def capture_sink(clients: AwsClients) -> CaptureSink:
    """The capture sink the settings ask for."""
    settings = clients.settings
    if settings.capture_mode == "off":
        return NoCaptureSink()
    if settings.capture_mode == "firehose":
        if not settings.capture_stream:
            raise ConfigError("capture mode 'firehose' needs SKLAMBDA_CAPTURE_STREAM")
        return FirehoseCaptureSink(clients.client("firehose"), settings.capture_stream)
    return LogCaptureSink()


def model_server(clients: AwsClients, registry: Registry | None = None) -> ModelServer:
    """The online prediction service for the configured registry."""
    settings = clients.settings
    return ModelServer(
        registry or open_registry(clients),
        Capturer(capture_sink(clients)),
        ttl_seconds=settings.alias_cache_ttl_seconds,
        max_request_bytes=settings.max_request_bytes,
        max_records=settings.max_records,
    )


def batch_scorer(clients: AwsClients) -> BatchScorer:
    """The batch scorer of the data bucket; refuses layouts where outputs re-trigger it."""
    from chalicelib.batch import BatchLayout, BatchScorer

    settings = clients.settings
    return BatchScorer(
        clients.s3,
        settings.require_data_bucket(),
        BatchLayout.from_settings(settings),
        open_registry(clients),
        chunk_rows=settings.batch_chunk_rows,
        max_rejected_share=settings.batch_max_rejected_share,
        split_bytes=settings.batch_split_bytes,
        part_bytes=settings.batch_part_bytes,
        enqueue=_queue_sender(clients),
        max_receives=settings.batch_max_receives,
        reserve_seconds=settings.batch_reserve_seconds,
        hand_back=_message_returner(clients),
    )


def _queue_sender(clients: AwsClients) -> Callable[[list[str]], None]:
    """Sends chunk jobs to the batch queue (its URL looked up on first use)."""
    url: list[str] = []

    def send(bodies: list[str]) -> None:
        sqs = clients.client("sqs")
        if not url:
            url.append(sqs.get_queue_url(QueueName=clients.settings.batch_queue)["QueueUrl"])
        for start in range(0, len(bodies), 10):  # SendMessageBatch takes ten at a time
            entries = [
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])
            ]
            failed = sqs.send_message_batch(QueueUrl=url[0], Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"{len(failed)} chunk jobs were not queued: {failed[0]}")

    return send


def _message_returner(clients: AwsClients) -> Callable[[str, str], None]:
    """Makes a received batch message visible again at once (the SQS client made on use)."""

    def hand_back(queue_arn: str, receipt_handle: str) -> None:
        from chalicelib.batch import queue_url_of

        clients.client("sqs").change_message_visibility(
            QueueUrl=queue_url_of(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=0
        )

    return hand_back


def data_store(clients: AwsClients) -> ObjectStore:
    """The data bucket (batch files, capture, feedback, reports)."""
    return ObjectStore(clients.s3, clients.settings.require_data_bucket())


def monitor_sources(clients: AwsClients) -> MonitorSources:
    """Where the monitor and the aggregating function read capture, batch files, feedback."""
    from chalicelib.batch import BatchLayout
    from chalicelib.monitoring import MonitorSources

    settings = clients.settings
    return MonitorSources(
        data_store(clients),
        capture_prefix=settings.capture_prefix,
        feedback_prefix=settings.feedback_prefix,
        scored_prefix=BatchLayout.from_settings(settings).scored,
        batch_rows=settings.monitor_batch_rows,
    )


def prediction_lookup(clients: AwsClients) -> PredictionLookup:
    """Past predictions read back from the capture objects of the data bucket."""
    from chalicelib.monitoring import PredictionLookup

    return PredictionLookup(monitor_sources(clients))


def monitor(clients: AwsClients, registry: Registry | None = None) -> Monitor:
    """The drift, accuracy and traffic monitor of the registry's models."""
    from chalicelib.monitoring import Monitor, put_metrics

    settings = clients.settings
    registry = registry or open_registry(clients)
    return Monitor(
        registry,
        data_store(clients),
        monitor_sources(clients),
        reports_prefix=settings.reports_prefix,
        publish_metrics=lambda points: put_metrics(clients.client("cloudwatch"), points),
        label_lookback_days=settings.monitor_label_lookback_days,
        # The monitor decides when a retrain is due and asks the retraining function for it.
        retrainer=retrainer(clients, registry),
        retrain_requests=retrain_requests(clients),
    )


def arrivals(clients: AwsClients, registry: Registry | None = None) -> Arrivals:
    """The aggregating function's service: landed objects into the monitor's partials."""
    from datetime import timedelta

    from chalicelib.monitoring import Arrivals, LabelJoiner, PartialStore

    settings = clients.settings
    registry = registry or open_registry(clients)
    sources = monitor_sources(clients)
    partials = PartialStore(data_store(clients), settings.reports_prefix)
    lookback = timedelta(days=settings.monitor_label_lookback_days)
    return Arrivals(registry, sources, partials, LabelJoiner(registry, sources, partials, lookback))


def retrain_requests(clients: AwsClients) -> RetrainRequests:
    """The sender of retrain requests: to the URL the stack sets, else looked up by name."""
    from chalicelib.rollout import RetrainRequests

    settings = clients.settings
    sqs = clients.client("sqs")
    if settings.retrain_queue_url:
        return RetrainRequests(sqs, settings.retrain_queue_url)
    return RetrainRequests(
        sqs, lambda: str(sqs.get_queue_url(QueueName=settings.retrain_queue)["QueueUrl"])
    )


def retrainer(clients: AwsClients, registry: Registry | None = None) -> Retrainer:
    """Retraining behind the gate, from the data bucket's training prefix."""
    from chalicelib.rollout import Retrainer

    return Retrainer(
        registry or open_registry(clients),
        data_store(clients),
        training_prefix=clients.settings.training_prefix,
    )


def catalog_sources(clients: AwsClients, registry: Registry | None = None) -> CatalogSources:
    """What the catalog reads: registry, reports, batch manifests and the usage metrics."""
    from chalicelib.batch import BatchLayout
    from chalicelib.monitoring import CatalogSources, UsageMetrics

    settings = clients.settings
    return CatalogSources(
        registry or open_registry(clients),
        data_store(clients),
        reports_prefix=settings.reports_prefix,
        scored_prefix=BatchLayout.from_settings(settings).scored,
        usage=lambda start, end: UsageMetrics(clients.client("cloudwatch")).by_model(start, end),
    )
