"""The whole system on one machine: an embedded AWS and the app's handlers wired to it.

`sklambda up` starts moto's server in this process, creates what the app needs (buckets,
batch queue and DLQ, the retrain queue and DLQ, the aggregate queue and DLQ, the data bucket's
notifications to the batch and aggregate queues, the capture Firehose stream, the registry's
signing key), serves `app.py`'s HTTP API through Chalice's local server, polls the batch queue
into the batch handler, the retrain queue into the retraining function and the aggregate queue
into the aggregating function the way Lambda's event source mappings do, and forwards what the
handlers print (EMF metrics, capture lines) to the embedded CloudWatch and Firehose. It stops
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core import ConfigError, Settings, reset_settings
from chalicelib.storage import AwsClients
from sklambda.infra.resources import AGGREGATE_MAX_RECEIVES, AGGREGATE_TIMEOUT, RETRAIN_MAX_RECEIVES
from sklambda.local.signing import LOCAL_SIGNING_KEY, create_signing_key

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import FilterRuleTypeDef, QueueConfigurationTypeDef

    from chalicelib.registry import VersionMetadata

LOCAL_MODELS_BUCKET = "sklambda-models-local"
LOCAL_DATA_BUCKET = "sklambda-data-local"
LOCAL_QUEUE = "sklambda-batch"
LOCAL_RETRAIN_QUEUE = "sklambda-retrain"
LOCAL_AGGREGATE_QUEUE = "sklambda-aggregate"
LOCAL_STREAM = "sklambda-capture"
# moto makes key ids at random: the alias is the name another shell can know in advance.
LOCAL_REGION = "us-east-1"
DEMO_MODEL = "churn"
MAX_RECEIVES = 3
# score_batch's and retrain_model's lambda_timeout in .chalice/config.json (Lambda's
# maximum): each local invocation gets this long, as on AWS.
BATCH_TIMEOUT_SECONDS = 900
RETRAIN_TIMEOUT_SECONDS = 900
# aggregate_arrivals' lambda_timeout, as the stack sets it.
AGGREGATE_TIMEOUT_SECONDS = AGGREGATE_TIMEOUT


def local_environment(aws_port: int) -> dict[str, str]:
    """The environment that points AWS clients and sklambda at the embedded AWS."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "SKLAMBDA_MODELS_BUCKET": LOCAL_MODELS_BUCKET,
        "SKLAMBDA_DATA_BUCKET": LOCAL_DATA_BUCKET,
        "SKLAMBDA_BATCH_QUEUE": LOCAL_QUEUE,
        "SKLAMBDA_RETRAIN_QUEUE": LOCAL_RETRAIN_QUEUE,
        "SKLAMBDA_AGGREGATE_QUEUE": LOCAL_AGGREGATE_QUEUE,
        "SKLAMBDA_SIGNING_KEY": LOCAL_SIGNING_KEY,
    }


@contextmanager
def embedded_aws(port: int) -> Iterator[AwsClients]:
    """moto's server on 127.0.0.1:`port`, with the environment pointing at it."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        os.environ.update(local_environment(port))
        reset_settings()
        yield AwsClients(Settings.from_env())
    finally:
        server.stop()


@dataclass(frozen=True)
class LocalResources:
    queue_url: str
    dlq_url: str
    signing_key_arn: str
    retrain_queue_url: str
    aggregate_queue_url: str
    aggregate_dlq_url: str


def create_resources(clients: AwsClients) -> LocalResources:
    """Buckets, signing key, batch, retrain and aggregate queues with their DLQs, the data
    bucket's S3 → SQS notifications, capture stream."""
    s3, sqs = clients.s3, clients.client("sqs")
    settings = clients.settings
    for bucket in (settings.models_bucket, settings.data_bucket):
        s3.create_bucket(Bucket=bucket)
    signing_key_arn = create_signing_key(clients.client("kms"))
    queue_url, dlq_url = _queue_with_dlq(sqs, LOCAL_QUEUE, MAX_RECEIVES)
    retrain_queue_url, _ = _queue_with_dlq(sqs, LOCAL_RETRAIN_QUEUE, RETRAIN_MAX_RECEIVES)
    aggregate_queue_url, aggregate_dlq_url = _queue_with_dlq(
        sqs, LOCAL_AGGREGATE_QUEUE, AGGREGATE_MAX_RECEIVES
    )
    from chalicelib.batch import BatchLayout
    from chalicelib.monitoring._sources import MANIFEST_SUFFIX

    layout = BatchLayout.from_settings(settings)
    batch_arn, aggregate_arn = _queue_arn(sqs, queue_url), _queue_arn(sqs, aggregate_queue_url)
    # The stack's rules (infra.resources._buckets): incoming files to the batch queue; what
    # the monitor aggregates to the aggregate queue. moto sends for Firehose's deliveries too.
    s3.put_bucket_notification_configuration(
        Bucket=settings.data_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                _notification(batch_arn, layout.incoming),
                _notification(aggregate_arn, settings.capture_prefix),
                _notification(aggregate_arn, settings.feedback_prefix),
                _notification(aggregate_arn, layout.scored, suffix=MANIFEST_SUFFIX),
            ]
        },
    )
    clients.client("firehose").create_delivery_stream(
        DeliveryStreamName=LOCAL_STREAM,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/sklambda-capture",
            "BucketARN": f"arn:aws:s3:::{settings.data_bucket}",
            "Prefix": settings.capture_prefix,
        },
    )
    return LocalResources(
        queue_url=queue_url,
        dlq_url=dlq_url,
        signing_key_arn=signing_key_arn,
        retrain_queue_url=retrain_queue_url,
        aggregate_queue_url=aggregate_queue_url,
        aggregate_dlq_url=aggregate_dlq_url,
    )


def _notification(queue_arn: str, prefix: str, *, suffix: str = "") -> QueueConfigurationTypeDef:
    rules: list[FilterRuleTypeDef] = [{"Name": "prefix", "Value": prefix}]
    if suffix:
        rules.append({"Name": "suffix", "Value": suffix})
    return {
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": rules}},
    }


def _queue_with_dlq(sqs: Any, name: str, max_receives: int) -> tuple[str, str]:
    """A queue and its DLQ, as the stack makes them; their URLs."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": _queue_arn(sqs, dlq_url),
                    "maxReceiveCount": str(max_receives),
                }
            ),
        },
    )["QueueUrl"]
    return str(queue_url), str(dlq_url)


def _queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def register_demo_model(clients: AwsClients) -> VersionMetadata:
    """Train the reference churn pipeline, register it and promote it to champion."""
    from chalicelib.registry import open_registry
    from sklambda.sample_data import FEATURES, TARGET, churn_frame, trained_reference_model

    model, frame = trained_reference_model("hgb", n_rows=5000)
    registry = open_registry(clients)
    holdout = churn_frame(2000, seed=99)
    metadata = registry.register(
        DEMO_MODEL,
        model,
        frame,
        TARGET,
        metrics={"accuracy": float(model.score(holdout[FEATURES], holdout[TARGET]))},
        description="demo churn model (generated data)",
        tags={"origin": "sklambda up"},
    )
    registry.promote(DEMO_MODEL, metadata["version"], reason="demo model of the local stack")
    return metadata


class QueuePoller(threading.Thread):
    """Lambda's SQS event source mapping: long-poll, invoke, delete what succeeded."""

    def __init__(
        self,
        clients: AwsClients,
        queue_url: str,
        handler: Any,
        stop: threading.Event,
        *,
        function: str = "score_batch",
        label: str = "batch",
        batch_size: int = 5,
        timeout_seconds: float = BATCH_TIMEOUT_SECONDS,
    ):
        super().__init__(name=f"sqs-poller-{label}", daemon=True)
        self._sqs = clients.client("sqs")
        self._queue_url = queue_url
        self._handler = handler
        self._halt = stop
        self._function = function
        self._label = label
        self._batch_size = batch_size
        self._timeout = timeout_seconds

    def run(self) -> None:
        from sklambda.local.events import deliver_once, invocation_context

        while not self._halt.is_set():
            try:
                count = deliver_once(
                    self._sqs,
                    self._queue_url,
                    self._handler,
                    batch_size=self._batch_size,
                    wait_seconds=1,
                    context=invocation_context(self._function, self._timeout),
                )
            except Exception as exc:  # noqa: BLE001 - keep polling, like the real mapping
                _say(f"[{self._label}] polling failed: {exc}")
                self._halt.wait(1)
                continue
            if count:
                queue = self._queue_url.rsplit("/", 1)[-1]
                _say(
                    f"[{self._label}] delivered {count} message(s) from {queue} to {self._function}"
                )


class Scheduler(threading.Thread):
    """EventBridge for the app's scheduled functions: fire each one every `interval` seconds."""

    def __init__(self, app_module: Any, interval: float, stop: threading.Event) -> None:
        super().__init__(name="scheduler", daemon=True)
        from chalice.app import ScheduledEventConfig

        self.handlers = [
            (source.name, getattr(app_module, source.name))
            for source in app_module.app.event_sources
            if isinstance(source, ScheduledEventConfig)
        ]
        self._interval = interval
        self._halt = stop

    def run(self) -> None:
        import uuid
        from datetime import UTC, datetime

        from sklambda.local.events import scheduled_event

        while self.handlers and not self._halt.wait(self._interval):
            for name, handler in self.handlers:
                at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                event = scheduled_event(name, LOCAL_REGION, event_id=str(uuid.uuid4()), at=at)
                _say(f"[schedule] firing {name}")
                try:
                    handler(event, None)
                except Exception as exc:  # noqa: BLE001 - a failed run waits for the next one
                    _say(f"[schedule] {name} failed: {exc}")


def _say(text: str) -> None:
    # Straight to the terminal: the forwarder in front of stdout is for the handlers' output.
    terminal = sys.__stdout__
    if terminal is not None:
        terminal.write(text + "\n")
        terminal.flush()


def check_ports_free(host: str, ports: dict[str, int]) -> None:
    """ConfigError naming the option to change when a port is already taken."""
    import socket

    for option, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise ConfigError(
                    f"port {port} on {host} is in use (another `sklambda up`?); stop it, "
                    f"or pick a free port with {option}"
                ) from None


def run_local_stack(
    *,
    api_port: int = 8000,
    aws_port: int = 4566,
    with_demo: bool = True,
    host: str = "127.0.0.1",
    monitor_every: float = 60.0,
) -> None:
    """Serve everything until interrupted."""
    check_ports_free(host, {"--api-port": api_port})
    check_ports_free("127.0.0.1", {"--aws-port": aws_port})
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    os.environ["SKLAMBDA_API_AUTH"] = "none"  # the local gateway has no API keys to check
    with embedded_aws(aws_port) as clients:
        resources = create_resources(clients)
        from sklambda.local.logs import StdoutForwarder

        # Before the app is imported: its logger keeps the stream it finds at import.
        forwarder = StdoutForwarder(
            sys.stdout, clients.client("cloudwatch"), clients.client("firehose"), LOCAL_STREAM
        )
        sys.stdout = forwarder
        try:
            import app as app_module

            app_module.reset()
            server = _start_http(app_module.app, host, api_port)
            poller = QueuePoller(clients, resources.queue_url, app_module.score_batch, stop)
            poller.start()
            # One request at a time, as the stack's mapping (batch size 1) hands them over.
            retrainer = QueuePoller(
                clients,
                resources.retrain_queue_url,
                app_module.retrain_model,
                stop,
                function="retrain_model",
                label="retrain",
                batch_size=1,
                timeout_seconds=RETRAIN_TIMEOUT_SECONDS,
            )
            retrainer.start()
            # Ten landed objects at a time, as the stack's mapping hands them over.
            aggregator = QueuePoller(
                clients,
                resources.aggregate_queue_url,
                app_module.aggregate_arrivals,
                stop,
                function="aggregate_arrivals",
                label="aggregate",
                batch_size=10,
                timeout_seconds=AGGREGATE_TIMEOUT_SECONDS,
            )
            aggregator.start()
            scheduler = Scheduler(app_module, monitor_every, stop)
            scheduler.start()
            names = ", ".join(name for name, _ in scheduler.handlers)
            _say(
                f"scheduled functions ({names}) fire every {monitor_every:g} s"
                if names
                else "no scheduled functions in the app yet"
            )
            if with_demo:
                _say("training and registering the demo model 'churn'…")
                metadata = register_demo_model(clients)
                _say(f"registered churn version {metadata['version']}, promoted to champion")
            _say(_banner(host, api_port, aws_port))
            stop.wait()
            _say("stopping…")
            server.shutdown()
            poller.join(timeout=5)
            retrainer.join(timeout=5)
            aggregator.join(timeout=5)
        finally:
            sys.stdout = sys.__stdout__
    _say("stopped")


def _start_http(app: Any, host: str, port: int) -> Any:
    from sklambda.local.gateway import local_api_server

    server = local_api_server(app, host, port)
    thread = threading.Thread(target=server.server.serve_forever, name="http", daemon=True)
    thread.start()
    return server


def shell_environment(aws_port: int) -> str:
    """`export` lines that point a shell (sklambda, the AWS CLI, boto3) at the embedded AWS:
    what `eval "$(sklambda up --env)"` runs."""
    import shlex

    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in local_environment(aws_port).items())


def _banner(host: str, api_port: int, aws_port: int) -> str:
    api = f"http://{host}:{api_port}"
    env = local_environment(aws_port)
    ports = "" if aws_port == 4566 else f" --aws-port {aws_port}"
    return f"""
sklambda is up.
  HTTP API       {api}          (no auth locally)
  embedded AWS   {env["AWS_ENDPOINT_URL"]}
  data bucket    s3://{LOCAL_DATA_BUCKET}   models bucket  s3://{LOCAL_MODELS_BUCKET}

In another shell (the first line points sklambda and the AWS CLI here):
  eval "$(sklambda up --env{ports})"
  curl -s {api}/models/{DEMO_MODEL}
  sklambda models --output table
  sklambda demo                                   # the whole tour against this stack
  aws s3 cp customers.csv s3://{LOCAL_DATA_BUCKET}/batch/incoming/{DEMO_MODEL}/
  aws cloudwatch list-metrics --namespace sklambda

Press Ctrl-C to stop."""
