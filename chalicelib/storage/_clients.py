"""The only place that creates boto3 clients: lazily, cached, with standard retries.

Every client honours `Settings.endpoint_url` (the standard AWS_ENDPOINT_URL, or the CLI's
--endpoint-url), which is how tests and the local stack point sklambda at moto.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib.core import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

_RETRIES = {"mode": "standard", "max_attempts": 5}


class AwsClients:
    """A cache of boto3 clients built from one Settings object on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        """The settings the clients are built from (the process settings by default)."""
        return self._settings if self._settings is not None else get_settings()

    def client(self, service: str) -> Any:
        """A cached client for `service`, created on first call."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._create(service)
                    self._clients[service] = client
        return client

    @property
    def s3(self) -> S3Client:
        return self.client("s3")

    @property
    def sts(self) -> STSClient:
        return self.client("sts")

    def reset(self) -> None:
        """Drop every cached client (after the environment or settings change)."""
        with self._lock:
            self._clients.clear()
            self._session = None

    def _create(self, service: str) -> Any:
        # Imported here so that importing this module (and the app) stays cheap.
        import boto3
        from botocore.config import Config

        settings = self.settings
        config = Config(retries=_RETRIES, connect_timeout=5, read_timeout=60)  # type: ignore[arg-type]
        # One session for every client: a second client on a fresh session loads endpoint and
        # partition data again (about 120 ms of a cold start for the KMS client next to S3's,
        # measured by bench/bench_signing.py). Clients are made under the lock above.
        if self._session is None:
            self._session = boto3.session.Session()
        session = self._session
        # The environment or --region, else the profile's region (~/.aws/config).
        region = settings.region or session.region_name or "us-east-1"
        return session.client(
            service,
            region_name=region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )


_default = AwsClients()


def default_clients() -> AwsClients:
    """The process-wide client cache used by the Lambda handlers."""
    return _default


def caller_identity(clients: AwsClients) -> str:
    """The ARN of whoever the credentials belong to, for `created_by` and alias history."""
    from chalicelib.storage._objects import translate_aws_errors

    with translate_aws_errors("identify the caller"):
        return clients.sts.get_caller_identity()["Arn"]
