"""Traces and metrics: one webhook is one trace across every service; every service serves ``/metrics``.

- Tracing: OpenTelemetry. The trace context travels in Kafka headers (W3C ``traceparent``), injected and
  extracted by FastStream's ``KafkaTelemetryMiddleware``; HTTP requests get server spans from the FastAPI
  instrumentation. Spans are exported by OTLP/HTTP when ``ZIXLY_OTEL_EXPORTER=otlp`` (the standard
  ``OTEL_EXPORTER_OTLP_*`` variables say where), to stderr with ``console``, nowhere by default.
- Metrics: Prometheus, one registry per app (never the global one, so tests can build many apps in one
  process). FastStream's ``KafkaPrometheusMiddleware`` counts events in and out; the consumer shell adds
  lag, retries, dead letters and handler durations; ``HttpMetrics`` counts requests.
- Logs carry the current ``trace_id`` and ``span_id`` (see :func:`add_trace_ids`).

Nothing here runs at import.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def configure_tracing(service: str, exporter: str = "none") -> TracerProvider:
    """Install the process-wide tracer provider of ``service`` (called by ``main``, never at import)."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"zixly-{service}"}))
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter != "none":
        raise ValueError(f"ZIXLY_OTEL_EXPORTER must be none, console or otlp (got {exporter!r})")
    trace.set_tracer_provider(provider)
    return provider


def ensure_tracing(service: str) -> None:
    """Install a tracer provider (exporter from ``ZIXLY_OTEL_EXPORTER``) unless one is installed already.

    Without an SDK provider spans carry no context, and nothing could be propagated downstream.
    """
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        configure_tracing(service, os.environ.get("ZIXLY_OTEL_EXPORTER", "none"))


def propagate_trace_context_in_kafka_sends() -> None:
    """Every ``AIOKafkaProducer.send`` of this process carries the current trace context as headers.

    For producers that do not go through FastStream (whose middleware does this itself): the caller's
    headers are copied, never changed, and a ``traceparent`` the caller set already is kept.
    """
    try:
        from aiokafka import AIOKafkaProducer
    except ImportError:  # a service without Kafka
        return
    from opentelemetry import propagate

    original = AIOKafkaProducer.send
    if getattr(original, "_zixly_propagates", False):
        return

    async def send(
        self: Any,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> Any:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        present = {name for name, _ in headers or ()}
        extra = [(name, value_.encode()) for name, value_ in carrier.items() if name not in present]
        merged = [*(headers or ()), *extra] if extra else headers
        return await original(self, topic, value, key, partition, timestamp_ms, merged)

    send._zixly_propagates = True  # type: ignore[attr-defined]
    AIOKafkaProducer.send = send  # type: ignore[method-assign]


def add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace and span ids, as 32 and 16 hex digits."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def kafka_middlewares(
    registry: CollectorRegistry, *, service: str, tracer_provider: TracerProvider | None = None
) -> list[Any]:
    """Broker middlewares: tracing through Kafka headers and Prometheus counters of events in and out."""
    return [
        KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
        KafkaPrometheusMiddleware(registry=registry, app_name=f"zixly-{service}", metrics_prefix="zixly"),
    ]


def metrics_endpoint(registry: CollectorRegistry) -> ASGIApp:
    """An ASGI app answering with the registry in the Prometheus text format."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = generate_latest(registry)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class HttpMetrics:
    """ASGI middleware: requests by method, route template and status; their durations."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "zixly_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "zixly_http_request_duration_seconds",
            "HTTP request durations",
            ["method", "route"],
            registry=registry,
        )

    def _template(self, scope: Scope) -> str:
        """The route's path template (``/api/sweeps/{sweep_id}``): bounded label values."""
        from starlette.routing import Match

        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        for route in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = self._template(scope)
            method = scope.get("method", "")
            self.requests.labels(method, template, str(status)).inc()
            self.duration.labels(method, template).observe(time.perf_counter() - started)


def instrument_fastapi(
    app: Any, registry: CollectorRegistry, tracer_provider: TracerProvider | None = None
) -> None:
    """Server spans for every request, request metrics, and ``GET /metrics`` on a FastAPI app."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="/healthz,/readyz,/metrics"
    )
    app.add_middleware(HttpMetrics, registry=registry)
    add_metrics_route(app, registry)


def instrument_http_service(
    app: Any, service: str, registry: CollectorRegistry | None = None
) -> CollectorRegistry:
    """Everything a FastAPI service needs: tracing (server spans, the context carried into its Kafka
    sends), request metrics and ``GET /metrics``. Returns the registry its metrics live in."""
    registry = registry or CollectorRegistry()
    ensure_tracing(service)
    propagate_trace_context_in_kafka_sends()
    instrument_fastapi(app, registry)
    return registry


def add_metrics_route(app: Any, registry: CollectorRegistry, path: str = "/metrics") -> None:
    """``GET /metrics`` on a Starlette/FastAPI app at ``path`` itself (a mount redirects to ``/metrics/``)."""
    from starlette.requests import Request
    from starlette.responses import Response

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route(path, metrics, methods=["GET"], include_in_schema=False)
