"""What commands are given: the global options, resolved, and a factory that builds the
settings, AWS clients, registry and services from them on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.core import Settings
    from chalicelib.monitoring import Monitor
    from chalicelib.registry import Registry
    from chalicelib.rollout import Retrainer
    from chalicelib.storage import AwsClients

ENV_DEFAULT_OUTPUT = "SKLAMBDA_DEFAULT_OUTPUT"


@dataclass(frozen=True)
class GlobalOptions:
    """The global options of one invocation, given before or after the command."""

    output: str = "json"
    query: Any = None  # a compiled JMESPath expression
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    models_bucket: str | None = None
    data_bucket: str | None = None
    signing_key: str | None = None
    debug: bool = False


class CliFactory:
    """Builds settings, clients, the registry and services for a command; clients once."""

    def __init__(self, options: GlobalOptions) -> None:
        self.options = options
        self._clients: AwsClients | None = None

    def create_settings(self) -> Settings:
        """The environment's settings, with the buckets, region and endpoint given as options."""
        from chalicelib.core import Settings

        if self.options.profile:
            # boto3 sessions read the profile from the environment, as with the AWS CLI.
            os.environ["AWS_PROFILE"] = self.options.profile
        return Settings.from_env().with_overrides(
            models_bucket=self.options.models_bucket,
            data_bucket=self.options.data_bucket,
            signing_key=self.options.signing_key,
            region=self.options.region,
            endpoint_url=self.options.endpoint_url,
        )

    def create_clients(self) -> AwsClients:
        """The AWS clients of this invocation (each made on first use)."""
        if self._clients is None:
            from chalicelib.storage import AwsClients

            self._clients = AwsClients(self.create_settings())
        return self._clients

    def create_registry(self) -> Registry:
        """The model registry in the models bucket."""
        from chalicelib.registry import open_registry

        return open_registry(self.create_clients())

    def create_monitor(self) -> Monitor:
        """The monitor, as the scheduled function builds it."""
        from chalicelib.services import monitor

        return monitor(self.create_clients())

    def create_retrainer(self) -> Retrainer:
        """Retraining behind the gate, as the retraining function runs it (here, at once)."""
        from chalicelib.services import retrainer

        return retrainer(self.create_clients())
