"""Online prediction: parse, route, validate, score, capture. One instance per container.

What a request reads from S3 is bounded: each model's aliases and settings once per TTL, each
version's artifact once per container. Everything else is in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import (
    CAPTURE_FAILURES,
    LATENCY,
    RECORDS_SCORED,
    REQUEST_COUNT,
    SHADOW_FAILURES,
    UNKNOWN_CATEGORIES,
    NotFoundError,
    SklambdaError,
    logger,
    new_prediction_id,
    now_iso,
    publish,
)
from chalicelib.registry import (
    AliasesDocument,
    LoadedModel,
    ModelCache,
    ModelConfig,
    Registry,
    empty_document,
    gone,
)
from chalicelib.scoring import Scorer, Scores, explanation_records
from chalicelib.serving._capture import Capturer
from chalicelib.serving._deferred_imports import needs_pandas, pandas_deferred
from chalicelib.serving._payloads import RequestBody, read_body
from chalicelib.serving._query import query_flag, version_and_alias
from chalicelib.serving._routing import Route, choose_route


@dataclass
class RequestInfo:
    """Who is asking and when; filled by the HTTP layer, read by metrics and capture."""

    request_id: str
    consumer: str
    started: float = field(default_factory=time.perf_counter)
    model: str = ""
    version: int | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


@dataclass(frozen=True)
class ModelState:
    """What a request needs to know about a model, cached for the TTL."""

    aliases: Mapping[str, Any]
    config: ModelConfig
    document: AliasesDocument = field(default_factory=lambda: empty_document())

    def refuse_retired(self, name: str, version: int | None) -> None:
        """410 Gone for a retired model, or for a request naming a retired version."""
        error = gone(name, self.document, version)
        if error is not None:
            raise error


UNKNOWN_MODEL_TTL = 2.0  # seconds an unknown model name stays cached as unknown


def _missing(state: ModelState | NotFoundError) -> bool:
    return isinstance(state, NotFoundError)


class ModelServer:
    """Serves predictions for every model of one registry."""

    def __init__(
        self,
        registry: Registry,
        capturer: Capturer,
        *,
        ttl_seconds: float = 30.0,
        max_request_bytes: int = 6_000_000,
        max_records: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._capturer = capturer
        self._ttl = ttl_seconds
        self._max_bytes = max_request_bytes
        self._max_records = max_records
        self._clock = clock
        self._states: dict[str, tuple[float, ModelState | NotFoundError]] = {}
        self._scorers = ModelCache(max_entries=8)

    @property
    def registry(self) -> Registry:
        return self._registry

    # -- cached reads ---------------------------------------------------------------------
    def state(self, name: str) -> ModelState:
        """Aliases and settings of `name`, re-read at most once per TTL (misses too)."""
        now = self._clock()
        cached = self._states.get(name)
        # A miss is kept briefly: enough to spare S3 from a client retrying a wrong name,
        # short enough that a model registered a moment later is found.
        ttl = min(self._ttl, UNKNOWN_MODEL_TTL) if cached and _missing(cached[1]) else self._ttl
        if cached is None or now - cached[0] >= ttl:
            cached = (now, self._read_state(name))
            self._states[name] = cached
        state = cached[1]
        if isinstance(state, NotFoundError):
            raise state
        return state

    def _read_state(self, name: str) -> ModelState | NotFoundError:
        document = self._registry.get_aliases(name)
        aliases = document["aliases"]
        if not aliases:
            # No alias: either an unknown model (404) or one never promoted (503 later).
            try:
                self._registry.list_versions(name)
            except NotFoundError as exc:
                return exc
        # The document also says what is retired: it follows the same TTL as the aliases.
        config = self._registry.get_config(name)
        return ModelState(aliases=aliases, config=config, document=document)

    def scorer(self, name: str, version: int) -> Scorer:
        """The scorer of a version: verified and loaded once per container, from its plan
        when it has one (nothing unpickled, scikit-learn not imported)."""

        def load_pipeline() -> LoadedModel:
            try:
                with pandas_deferred():
                    return self._registry.load(name, version)
            except ModuleNotFoundError as error:
                if not needs_pandas(error):
                    raise
            # The pickle itself holds pandas objects: load it with pandas.
            return self._registry.load(name, version)

        return self._scorers.get_or_load(
            (name, version),
            lambda: self._registry.load_scorer(name, version, load_pipeline=load_pipeline),
        )

    # -- predict --------------------------------------------------------------------------
    def predict(
        self,
        name: str,
        body: bytes | str | None,
        content_type: str | None,
        query: Mapping[str, str],
        request: RequestInfo,
    ) -> dict[str, Any]:
        """Score the records in a request body; the response body as a dict."""
        request.model = name
        version, alias = version_and_alias(query)
        explain = query_flag(query, "explain")
        # The body first: a request refused for its size or record count must not cost an S3
        # read or, on a cold container, a model load.
        checked = read_body(
            body, content_type, max_records=self._max_records, max_bytes=self._max_bytes
        )
        state = self.state(name)
        state.refuse_retired(name, version)
        route = choose_route(name, state.aliases, version=version, alias=alias)
        try:
            return self._predict(name, checked, version, alias, state, route, request, explain)
        except Exception as exc:
            if not isinstance(exc, SklambdaError) or exc.status_code >= 500:
                # A version that fails on the server is what canary guardrails watch for.
                self._capture_failure(name, request, state.config, exc)
            raise

    def _capture_failure(
        self, name: str, request: RequestInfo, config: ModelConfig, exc: Exception
    ) -> None:
        if request.version is None or not self._capturer.sampled(config.capture_sample_rate):
            return
        self._capturer.capture(
            [
                {
                    "model": name,
                    "version": request.version,
                    "role": "primary",
                    "source": "http",
                    "error": getattr(exc, "code", type(exc).__name__),
                    "latency_ms": round(request.elapsed_ms(), 3),
                    "consumer": request.consumer,
                    "request_id": request.request_id,
                    "captured_at": now_iso(),
                }
            ]
        )

    def _predict(
        self,
        name: str,
        body: RequestBody,
        version: int | None,
        alias: str | None,
        state: ModelState,
        route: Route,
        request: RequestInfo,
        explain: bool = False,
    ) -> dict[str, Any]:
        request.version = route.version
        scorer = self.scorer(name, route.version)
        payload = body.payload(scorer.feature_names)
        entity_field = state.config.entity_id_field
        if entity_field and version is None and alias is None:
            # Sticky canary: the entity of the (first) record decides, not a random draw.
            entity = payload.records[0].get(entity_field)
            if entity is not None:
                route = choose_route(name, state.aliases, entity_id=entity)
                scorer = self.scorer(name, route.version)
                request.version = route.version
        validated = scorer.validator(state.config.unknown_categories, entity_field).validate(
            payload.records, strings=payload.strings
        )
        scores = scorer.score(validated.rows)
        explanations = explanation_records(scorer.explain(validated.rows)) if explain else None
        ids = [new_prediction_id() for _ in validated.rows]
        response: dict[str, Any] = {
            "model": {"name": name, "version": route.version, "alias": route.alias},
            "predictions": scores.predictions,
        }
        if scores.probabilities is not None:
            response["probabilities"] = scores.probabilities
        if explanations is not None:
            response["explanations"] = explanations
        response["prediction_ids"] = ids
        response["warnings"] = validated.warnings

        latency_ms = request.elapsed_ms()
        capture_failures = 0
        if self._capturer.sampled(state.config.capture_sample_rate):
            records = _capture_records(
                name,
                route.version,
                route.alias,
                "primary",
                ids,
                validated.rows,
                scores,
                latency_ms,
                request,
                explanations,
            )
            capture_failures += not self._capturer.capture(records)
        if route.shadow_version is not None:
            capture_failures += self._shadow(
                name, route, validated.rows, ids, scores, state.config, request
            )
        counts = {REQUEST_COUNT: 1, RECORDS_SCORED: len(ids)}
        # Zero counts are left out: an absent datapoint reads as 0 and costs nothing.
        if validated.unknown_categories:
            counts[UNKNOWN_CATEGORIES] = validated.unknown_categories
        if capture_failures:
            counts[CAPTURE_FAILURES] = capture_failures
        publish(
            {"Model": name, "Version": str(route.version), "Consumer": request.consumer},
            counts=counts,
            milliseconds={LATENCY: latency_ms},
            context={
                "message": "scored",
                "request_id": request.request_id,
                "alias": route.alias,
                "compiled": scorer.compiled,
                "scored_by": scorer.scored_by,
            },
        )
        return response

    def _shadow(
        self,
        name: str,
        route: Route,
        rows: list[dict[str, Any]],
        ids: list[str],
        primary: Scores,
        config: ModelConfig,
        request: RequestInfo,
    ) -> int:
        """Score the shadow version too: logged and captured, never returned or raised."""
        version = route.shadow_version
        assert version is not None
        started = time.perf_counter()
        try:
            shadow = self.scorer(name, version).score(rows)
        except Exception as exc:  # noqa: BLE001 - a shadow must never fail the request
            error = exc.code if isinstance(exc, SklambdaError) else type(exc).__name__
            logger.warning(
                "shadow scoring failed",
                extra={"model": name, "version": version, "error": str(exc)},
            )
            publish(
                {"Model": name, "Version": str(version), "Consumer": request.consumer},
                counts={SHADOW_FAILURES: 1},
            )
            if self._capturer.sampled(config.capture_sample_rate):
                self._capturer.capture(
                    [
                        {
                            "model": name,
                            "version": version,
                            "role": "shadow",
                            "source": "http",
                            "error": error,
                            "consumer": request.consumer,
                            "request_id": request.request_id,
                            "captured_at": now_iso(),
                        }
                    ]
                )
            return 0
        agree = sum(a == b for a, b in zip(shadow.predictions, primary.predictions, strict=True))
        latency_ms = (time.perf_counter() - started) * 1000.0
        logger.info(
            "shadow scored",
            extra={
                "request_id": request.request_id,
                "model": name,
                "version": version,
                "primary_version": route.version,
                "agreement": agree / len(rows),
                "predictions": shadow.predictions,
                "latency_ms": round(latency_ms, 3),
            },
        )
        if not self._capturer.sampled(config.capture_sample_rate):
            return 0
        records = _capture_records(
            name, version, "shadow", "shadow", ids, rows, shadow, latency_ms, request
        )
        return int(not self._capturer.capture(records))


def _capture_records(
    name: str,
    version: int,
    alias: str | None,
    role: str,
    ids: list[str],
    rows: list[dict[str, Any]],
    scores: Scores,
    latency_ms: float,
    request: RequestInfo,
    explanations: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    at = now_iso()
    probabilities: list[Any] = scores.probabilities or [None] * len(ids)
    records = [
        {
            "model": name,
            "version": version,
            "alias": alias,
            "role": role,
            "source": "http",
            "prediction_id": pid,
            "inputs": row,
            "prediction": prediction,
            "probabilities": proba,
            "latency_ms": round(latency_ms, 3),
            "consumer": request.consumer,
            "request_id": request.request_id,
            "captured_at": at,
        }
        for pid, row, prediction, proba in zip(
            ids, rows, scores.predictions, probabilities, strict=True
        )
    ]
    for record, explanation in zip(records, explanations or (), strict=False):
        record["explanation"] = explanation
    return records
