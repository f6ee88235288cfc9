"""Composition root: settings → a wired FastStream ASGI app. Nothing runs at import."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream, AsgiResponse, get

from zixly_backtester.adapters.artifacts import ParquetArtifactStore
from zixly_backtester.adapters.datasets import StoreDatasetSource
from zixly_backtester.adapters.object_store import open_store
from zixly_backtester.config import Settings
from zixly_backtester.service_layer import handlers
from zixly_contracts.envelope import Envelope
from zixly_contracts.events import RunBacktestBatch, SweepRequested
from zixly_contracts.topics import BACKTESTS_TASKS, SWEEPS_REQUESTED
from zixly_runtime.consumer import readiness, subscribe
from zixly_runtime.kafka import KafkaEventPublisher, make_broker


@get
async def liveness(scope: object) -> AsgiResponse:
    return AsgiResponse(b"ok", status_code=200)


def build(settings: Settings) -> AsgiFastStream:
    broker = make_broker(
        settings.kafka_bootstrap_servers,
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id="zixly-backtester",
    )
    publisher = KafkaEventPublisher(broker)
    store = open_store(settings.object_store_url, s3_endpoint_url=settings.s3_endpoint_url)
    datasets = StoreDatasetSource(store)
    artifacts = ParquetArtifactStore(store)

    async def plan(event: Envelope[SweepRequested]) -> int:
        return await handlers.plan(
            event,
            publisher=publisher,
            batch_size=settings.backtester_batch_size,
            max_backtests=settings.backtester_max_backtests_per_sweep,
        )

    async def run(event: Envelope[RunBacktestBatch]) -> object:
        return await handlers.run_task(event, datasets=datasets, artifacts=artifacts, publisher=publisher)

    subscribers = [
        subscribe(
            broker,
            SWEEPS_REQUESTED,
            group_id=settings.backtester_planner_group_id,
            handler=plan,
            expected=(SweepRequested,),
        ),
        subscribe(
            broker,
            BACKTESTS_TASKS,
            group_id=settings.backtester_group_id,
            handler=run,
            expected=(RunBacktestBatch,),
        ),
    ]
    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", liveness), ("/readyz", readiness(broker, subscribers))],
    )
