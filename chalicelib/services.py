"""Builds the long-lived services a Lambda container reuses across invocations."""

from __future__ import annotations

from chalicelib.aws import AwsClients
from chalicelib.capture import (
    Capturer,
    CaptureSink,
    FirehoseCaptureSink,
    LogCaptureSink,
    NoCaptureSink,
)
from chalicelib.errors import ConfigError
from chalicelib.registry import Registry, open_registry
from chalicelib.s3store import ObjectStore
from chalicelib.serving import ModelServer


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


def data_store(clients: AwsClients) -> ObjectStore:
    """The data bucket (batch files, capture, feedback, reports)."""
    return ObjectStore(clients.s3, clients.settings.require_data_bucket())
