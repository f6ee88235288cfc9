"""The ASGI app of a consuming service: its consumers, probes, /metrics, AsyncAPI and shutdown order."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CollectorRegistry

from zixly_runtime.consumer import ConsumerRuntime, exit_if_stuck, liveness, readiness, shutdown
from zixly_runtime.settings import ConsumerSettings
from zixly_runtime.telemetry import metrics_endpoint

Hook = Callable[[], Awaitable[None]]


def collect_per_message_garbage_only() -> None:
    """Tune the cyclic collector for a process that handles one message after another.

    Everything alive after startup (modules, models, pools) is frozen: a full collection would otherwise
    walk that whole heap again every few hundred messages. The youngest generation is collected after
    10,000 net allocations instead of 700: a message's thousands of objects are then freed by reference
    counting instead of being scanned (and promoted) several times while the message is handled.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


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
        collect_per_message_garbage_only()
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
