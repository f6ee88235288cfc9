"""Composition root: settings → a wired FastAPI app. Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from zixly_ingest.adapters.kafka import KafkaEventPublisher, make_broker
from zixly_ingest.adapters.signatures import StandardWebhooksVerifier
from zixly_ingest.config import Settings
from zixly_ingest.entrypoints.http import create_app


def build(settings: Settings) -> FastAPI:
    broker = make_broker(
        settings.kafka_bootstrap_servers, enable_idempotence=settings.kafka_enable_idempotence
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()

    async def ready() -> bool:
        return bool(await broker.ping(timeout=2.0))

    return create_app(
        verifier=StandardWebhooksVerifier(settings.webhook_secrets),
        publisher=KafkaEventPublisher(broker, settings.ingest_publish_timeout_s),
        max_body_bytes=settings.ingest_max_body_bytes,
        max_backtests=settings.ingest_max_backtests_per_sweep,
        ready=ready,
        lifespan=lifespan,
    )
