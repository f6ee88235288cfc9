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
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
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
    app.mount("/metrics", metrics_endpoint(registry))
