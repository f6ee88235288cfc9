"""Composition root: settings → a wired FastStream ASGI app. Nothing runs at import."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter

from zixly_aggregator.adapters.outbox import KafkaOutbox
from zixly_aggregator.adapters.postgres import PostgresProjectionStore, make_engine
from zixly_aggregator.config import Settings
from zixly_aggregator.service_layer.handlers import project
from zixly_contracts.envelope import Envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    SweepCompleted,
    SweepFailed,
    SweepPlanned,
    SweepRequested,
)
from zixly_contracts.topics import BACKTESTS_RESULTS, SWEEPS_LIFECYCLE, SWEEPS_REQUESTED
from zixly_runtime.consumer import (
    ConsumerMetrics,
    ConsumerRuntime,
    exit_if_stuck,
    liveness,
    readiness,
    shutdown,
)
from zixly_runtime.kafka import make_broker
from zixly_runtime.telemetry import kafka_middlewares, metrics_endpoint

#: The topics the read models are projected from, in one consumer (one group member, one join).
READ_MODEL_TOPICS = (SWEEPS_REQUESTED, SWEEPS_LIFECYCLE, BACKTESTS_RESULTS)
READ_MODEL_EVENTS = (
    SweepRequested,
    SweepPlanned,
    SweepCompleted,
    SweepFailed,
    BacktestBatchCompleted,
    BacktestBatchFailed,
)


def build(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
    hard_exit: bool = False,
) -> AsgiFastStream:
    registry = registry or CollectorRegistry()
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="zixly-aggregator",
        graceful_timeout_s=settings.shutdown_grace_s,
        middlewares=kafka_middlewares(registry, service="aggregator", tracer_provider=tracer_provider),
    )
    engine = make_engine(settings.database_url, schema=settings.database_schema)
    store = PostgresProjectionStore(engine)
    outbox = KafkaOutbox(engine, broker)
    relay: list[asyncio.Task[None]] = []
    projected = Counter(
        "zixly_projection_events_total",
        "Events projected into the read models, by type and outcome (projected or duplicate)",
        ["type", "outcome"],
        registry=registry,
    )

    async def handle(event: Envelope[Any]) -> bool:
        fresh = await project(event, store=store, outbox=outbox)
        projected.labels(event.type, "projected" if fresh else "duplicate").inc()
        return fresh

    runtimes = [
        ConsumerRuntime(
            broker,
            READ_MODEL_TOPICS,
            handler=handle,
            expected=READ_MODEL_EVENTS,
            options=settings.consumer_options(settings.aggregator_group_id),
            metrics=ConsumerMetrics(registry),
        )
    ]

    async def start() -> None:
        relay.append(asyncio.create_task(outbox.run_forever(settings.aggregator_outbox_interval_s)))
        for runtime in runtimes:
            runtime.start_watchdog()

    async def stop() -> None:
        if hard_exit:
            exit_if_stuck(settings.shutdown_grace_s + 3 * settings.shutdown_stop_timeout_s)
        await asyncio.gather(*(r.drain(settings.shutdown_grace_s) for r in runtimes))
        for task in relay:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await shutdown(
            broker, runtimes, grace_s=settings.shutdown_grace_s, stop_s=settings.shutdown_stop_timeout_s
        )

    async def dispose() -> None:
        await engine.dispose()

    app = AsgiFastStream(
        broker,
        asgi_routes=[
            ("/healthz", liveness(runtimes)),
            ("/readyz", readiness(broker, runtimes)),
            ("/metrics", metrics_endpoint(registry)),
        ],
        after_startup=[start],
        on_shutdown=[stop],
        after_shutdown=[dispose],
        specification=AsyncAPI(
            title="zixly-aggregator",
            version="1",
            description="Projects sweep and result events into the PostgreSQL read models; "
            "announces completed sweeps through an outbox.",
        ),
        asyncapi_path="/docs/asyncapi",
    )
    app.runtimes = runtimes  # type: ignore[attr-defined]
    return app
