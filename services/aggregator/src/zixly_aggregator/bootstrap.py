"""Composition root: settings → a wired FastStream ASGI app. Nothing runs at import."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get

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
from zixly_runtime.consumer import readiness, subscribe
from zixly_runtime.kafka import make_broker


@get
async def liveness(scope: object) -> AsgiResponse:
    return AsgiResponse(b"ok", status_code=200)


def build(settings: Settings) -> AsgiFastStream:
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="zixly-aggregator",
    )
    engine = make_engine(settings.database_url)
    store = PostgresProjectionStore(engine)
    outbox = KafkaOutbox(engine, broker)
    relay: list[asyncio.Task[None]] = []

    async def handle(event: Envelope[Any]) -> bool:
        return await project(event, store=store, outbox=outbox)

    # One consumer for all three topics: one group member, one join, no rebalance between them.
    subscriber = subscribe(
        broker,
        SWEEPS_REQUESTED,
        SWEEPS_LIFECYCLE,
        BACKTESTS_RESULTS,
        group_id=settings.aggregator_group_id,
        handler=handle,
        expected=(
            SweepRequested,
            SweepPlanned,
            SweepCompleted,
            SweepFailed,
            BacktestBatchCompleted,
            BacktestBatchFailed,
        ),
    )

    async def start_relay() -> None:
        relay.append(asyncio.create_task(outbox.run_forever(settings.aggregator_outbox_interval_s)))

    async def stop() -> None:
        for task in relay:
            task.cancel()
        await engine.dispose()

    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", liveness), ("/readyz", readiness(broker, [subscriber]))],
        after_startup=[start_relay],
        after_shutdown=[stop],
    )
