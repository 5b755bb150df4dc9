"""sklambda's Lambda functions. Handlers stay thin: parse, call chalicelib, map errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalice import Chalice, Response
from chalice.app import Request

from chalicelib import __version__
from chalicelib.api import endpoint, framework_errors, route_auth
from chalicelib.serving import ModelServer, RequestInfo
from chalicelib.storage import default_clients

if TYPE_CHECKING:
    from chalicelib.batch import BatchScorer
    from chalicelib.monitoring import Arrivals, Monitor
    from chalicelib.rollout import Retrainer

app = Chalice(app_name="sklambda")
app.register_middleware(framework_errors(app), "http")

AUTH = route_auth()
api = endpoint(app)
# The queue name is needed when app.py is imported (chalice package wires the trigger).
BATCH_QUEUE = os.environ.get("SKLAMBDA_BATCH_QUEUE", "sklambda-batch")
RETRAIN_QUEUE = os.environ.get("SKLAMBDA_RETRAIN_QUEUE", "sklambda-retrain")
AGGREGATE_QUEUE = os.environ.get("SKLAMBDA_AGGREGATE_QUEUE", "sklambda-aggregate")
# EventBridge rate or cron expression of the monitor, set per stage in .chalice/config.json.
MONITOR_SCHEDULE = os.environ.get("SKLAMBDA_MONITOR_SCHEDULE", "rate(1 hour)")
_server: ModelServer | None = None
_batch: BatchScorer | None = None
_monitor: Monitor | None = None
_retrainer: Retrainer | None = None
_arrivals: Arrivals | None = None


def server() -> ModelServer:
    """The container's prediction service, built on first use (no AWS client at import)."""
    global _server
    if _server is None:
        from chalicelib.services import model_server

        _server = model_server(default_clients())
    return _server


def batch_scorer() -> BatchScorer:
    """The container's batch scorer, built on first use."""
    global _batch
    if _batch is None:
        from chalicelib.services import batch_scorer as build

        _batch = build(default_clients())
    return _batch


def monitor() -> Monitor:
    """The container's monitor, built on first use."""
    global _monitor
    if _monitor is None:
        from chalicelib.services import monitor as build

        _monitor = build(default_clients(), server().registry)
    return _monitor


def retrainer() -> Retrainer:
    """The container's retrainer, built on first use."""
    global _retrainer
    if _retrainer is None:
        from chalicelib.services import retrainer as build

        _retrainer = build(default_clients())
    return _retrainer


def arrivals() -> Arrivals:
    """The container's aggregator of landed objects, built on first use."""
    global _arrivals
    if _arrivals is None:
        from chalicelib.services import arrivals as build

        _arrivals = build(default_clients())
    return _arrivals


def current_request() -> Request:
    """The request being handled (always set inside a route)."""
    request = app.current_request
    assert request is not None
    return request


def reset() -> None:
    """Forget cached services and clients (tests change settings between cases)."""
    global _server, _batch, _monitor, _retrainer, _arrivals
    _server = _batch = _monitor = _retrainer = _arrivals = None
    default_clients().reset()


@app.route("/health", methods=["GET"])
def health() -> dict[str, str]:
    """Liveness: answers without touching AWS, so it stays cheap and never needs auth."""
    return {"status": "ok", "version": __version__}


@app.route("/models", methods=["GET"], **AUTH)
@api
def list_models(request: RequestInfo) -> dict[str, Any]:
    from chalicelib.serving import list_models

    return {"models": list_models(server().registry)}


@app.route("/models/{name}", methods=["GET"], **AUTH)
@api
def describe_model(request: RequestInfo, name: str) -> dict[str, Any]:
    from chalicelib.serving import describe_model

    query: Mapping[str, str] = current_request().query_params or {}
    return describe_model(server().registry, name, query.get("version"))


@app.route(
    "/models/{name}/predict",
    methods=["POST"],
    content_types=["application/json", "text/csv"],
    **AUTH,
)
@api
def predict(request: RequestInfo, name: str) -> dict[str, Any]:
    current = current_request()
    return server().predict(
        name,
        current.raw_body,
        current.headers.get("content-type"),
        current.query_params or {},
        request,
    )


@app.route("/models/{name}/feedback", methods=["POST"], **AUTH)
@api
def feedback(request: RequestInfo, name: str) -> dict[str, Any]:
    from chalicelib.services import data_store
    from chalicelib.serving import parse_feedback, store_feedback

    server().state(name)  # 404 for unknown models before anything is written
    items = parse_feedback(current_request().raw_body)
    settings = default_clients().settings
    store_feedback(
        data_store(default_clients()),
        settings.feedback_prefix,
        name,
        items,
        received=datetime.now(UTC),
        request_id=request.request_id,
        consumer=request.consumer,
    )
    return {"model": name, "accepted": len(items)}


@app.route("/models/{name}/predictions/{prediction_id}", methods=["GET"], **AUTH)
@api
def prediction(request: RequestInfo, name: str, prediction_id: str) -> dict[str, Any]:
    """One past prediction from the capture: inputs, output, and its explanation (the captured
    one, else with ?explain=true recomputed by the same version)."""
    from chalicelib.services import prediction_lookup
    from chalicelib.serving import query_flag

    explain = query_flag(current_request().query_params or {}, "explain")
    return prediction_lookup(default_clients()).show(server(), name, prediction_id, explain=explain)


@app.route("/models/{name}/report", methods=["GET"], **AUTH)
@api
def report(request: RequestInfo, name: str) -> Any:
    """The latest monitor report: an HTML page, or its JSON with ?format=json."""
    server().state(name)  # 404 for unknown models
    if _page_format() == "json":
        return monitor().latest_report(name)
    return _html_page(monitor().latest_html(name))


def _page_format() -> str:
    """The `format` query parameter of a page route: html (the default) or json."""
    query: Mapping[str, str] = current_request().query_params or {}
    wanted = query.get("format", "html")
    if wanted not in ("html", "json"):
        from chalicelib.core import InvalidInputError

        raise InvalidInputError(f"format must be html or json, got {wanted!r}")
    return wanted


def _html_page(body: str) -> Response:
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            # The pages are self-contained: forbid anything they do not carry themselves.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:",
            "X-Content-Type-Options": "nosniff",
        },
    )


@app.schedule(MONITOR_SCHEDULE)
def monitor_models(event: Any) -> dict[str, Any]:
    """EventBridge → here: drift, accuracy and traffic of every model with a champion."""
    from chalicelib.monitoring import MonitorRun

    window = default_clients().settings.monitor_window_hours
    run = MonitorRun.from_schedule(event.event_id, event.time, window)
    return monitor().run_all(run)


@app.on_sqs_message(queue=BATCH_QUEUE, batch_size=5)
def score_batch(event: Any) -> dict[str, Any]:
    """S3 → SQS → here: score each file named in the messages; report partial failures. The
    Lambda context's remaining time decides when to stop and hand messages back."""
    from chalicelib.batch import handle_sqs_event

    return handle_sqs_event(batch_scorer(), event.to_dict(), event.context)


@app.on_sqs_message(queue=RETRAIN_QUEUE, batch_size=1)
def retrain_model(event: Any) -> dict[str, Any]:
    """The monitor → the retrain queue → here: retrain one model, in this function's memory
    and 15 minutes rather than the monitor's; the outcome lands in the model's history."""
    from chalicelib.rollout import handle_retrain_event

    return handle_retrain_event(retrainer(), event.to_dict())


# Up to 30 s to fill a batch of ten: a batch's capture objects share one partial update per
# version and hour, so fuller batches mean fewer writes and fewer races between containers.
@app.on_sqs_message(queue=AGGREGATE_QUEUE, batch_size=10, maximum_batching_window_in_seconds=30)
def aggregate_arrivals(event: Any) -> dict[str, Any]:
    """S3 (capture, feedback, batch manifests) → SQS → here: each landed object added to the
    monitor's partials once, so a monitor run merges hours instead of reading records."""
    from chalicelib.monitoring import handle_arrivals_event

    return handle_arrivals_event(arrivals(), event.to_dict())


@app.route("/catalog", methods=["GET"], **AUTH)
@api
def catalog(request: RequestInfo) -> Any:
    """Every model: owner and team, live versions, last verdict, usage and batch files of the
    last 7 days, a link to each report. An HTML page, or its JSON with ?format=json."""
    from chalicelib.services import catalog_sources

    wanted = _page_format()
    document = catalog_sources(default_clients(), server().registry).catalog()
    if wanted == "json":
        return document
    from chalicelib.monitoring.report import render_catalog_html

    return _html_page(render_catalog_html(document))
