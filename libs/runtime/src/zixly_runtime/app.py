"""The ASGI app of a consuming service: its consumers, probes, /metrics, AsyncAPI and shutdown order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from zixly_runtime.consumer import ConsumerRuntime, exit_if_stuck, liveness, readiness, shutdown
from zixly_runtime.settings import ConsumerSettings
from zixly_runtime.telemetry import metrics_endpoint

Hook = Callable[[], Awaitable[None]]


def consumer_app(
    broker: KafkaBroker,
    runtimes: list[ConsumerRuntime],
    registry: CollectorRegistry,
    settings: ConsumerSettings,
    *,
    title: str,
    description: str,
    hard_exit: bool,
    after_start: Sequence[Hook] = (),
    after_drain: Sequence[Hook] = (),
    after_shutdown: Sequence[Hook] = (),
) -> AsgiFastStream:
    """``/healthz`` (never asks Kafka), ``/readyz`` (broker + joined groups), ``/metrics``; on SIGTERM the
    consumers drain, then ``after_drain`` runs, then they leave their groups and the producer stops."""

    async def start() -> None:
        for runtime in runtimes:
            runtime.start_watchdog()
        for hook in after_start:
            await hook()

    async def stop() -> None:
        if hard_exit:
            exit_if_stuck(settings.shutdown_grace_s + 3 * settings.shutdown_stop_timeout_s)
        await shutdown(
            broker,
            runtimes,
            grace_s=settings.shutdown_grace_s,
            stop_s=settings.shutdown_stop_timeout_s,
            after_drain=after_drain,
        )

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/healthz", liveness(runtimes)),
            ("/readyz", readiness(broker, runtimes)),
            ("/metrics", metrics_endpoint(registry)),
        ],
        after_startup=[start],
        on_shutdown=[stop],
        after_shutdown=list(after_shutdown),
        specification=AsyncAPI(title=title, version="1", description=description),
        asyncapi_path="/docs/asyncapi",
    )
    app.runtimes = runtimes  # type: ignore[attr-defined]
    return app
