"""Composition root: settings → a wired FastAPI app. Nothing runs at import.

Tests build the app through this same function, injecting fakes for the ports they replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from zixly_ingest.adapters.aws import AwsClients, SqsQueue
from zixly_ingest.adapters.dedupe import PostgresDedupeStore
from zixly_ingest.adapters.kafka import KafkaEventPublisher
from zixly_ingest.adapters.secrets import SecretStore
from zixly_ingest.adapters.signatures import SignatureVerifier
from zixly_ingest.config import Settings
from zixly_ingest.entrypoints.http import create_app
from zixly_ingest.entrypoints.sqs import consume_queue
from zixly_ingest.service_layer.handlers import Intake
from zixly_ingest.service_layer.ports import DedupeStore, EventPublisher, MessageQueue
from zixly_runtime.telemetry import HttpMetrics, add_metrics_route

log = structlog.get_logger("zixly_ingest.bootstrap")


class ConfigurationError(RuntimeError):
    pass


@dataclass
class Overrides:
    """Ports a test replaces; anything left ``None`` is the real adapter."""

    publisher: EventPublisher | None = None
    dedupe: DedupeStore | None = None
    clock: Callable[[], float] | None = None
    queues: Mapping[str, MessageQueue] = field(default_factory=dict)


def lease_seconds(settings: Settings) -> float:
    """How long a claim outlives its holder: longer than any publish can stay in flight (aiokafka
    gives a batch up to about twice its request timeout), so a slow publish is never doubled."""
    return max(settings.ingest_publish_timeout_s, 2 * settings.ingest_kafka_request_timeout_ms / 1000) + 10


def build(settings: Settings, overrides: Overrides | None = None) -> FastAPI:
    overrides = overrides or Overrides()
    if settings.database_url is None and overrides.dedupe is None:
        raise ConfigurationError(
            "ZIXLY_DATABASE_URL is required: ingest keeps its dedupe records (one per webhook id) "
            "in PostgreSQL"
        )
    sources = settings.sources()
    aws = AwsClients(endpoint_url=settings.ingest_aws_endpoint_url, region=settings.ingest_aws_region)
    secrets = SecretStore(
        sources, env=dict(os.environ), fetch=aws.get_secret, refresh_s=settings.ingest_secrets_refresh_s
    )
    largest_body = max(
        (s.limits.max_body_bytes for s in sources.values()), default=settings.ingest_max_body_bytes
    )
    kafka = (
        KafkaEventPublisher(
            settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_enable_idempotence,
            request_timeout_ms=settings.ingest_kafka_request_timeout_ms,
            # WebhookReceived carries the body as a JSON string: escaping at most doubles it.
            max_request_size=2 * largest_body + 65_536,
            compression_type=settings.ingest_kafka_compression,
            retry_after_s=settings.ingest_retry_after_s,
        )
        if overrides.publisher is None
        else None
    )
    postgres = (
        PostgresDedupeStore(settings.database_url, retry_after_s=settings.ingest_retry_after_s)
        if overrides.dedupe is None and settings.database_url is not None
        else None
    )
    publisher: EventPublisher = overrides.publisher or kafka  # type: ignore[assignment]
    dedupe: DedupeStore = overrides.dedupe or postgres  # type: ignore[assignment]
    intake = Intake(
        sources=sources,
        verifier=SignatureVerifier(secrets.keys_of),
        publisher=publisher,
        dedupe=dedupe,
        dataset_bars=settings.ingest_dataset_bars,
        publish_timeout_s=settings.ingest_publish_timeout_s,
        lease_s=lease_seconds(settings),
        retry_after_s=settings.ingest_retry_after_s,
        clock=overrides.clock or time.time,
    )
    queues: dict[str, MessageQueue] = {
        source: SqsQueue(aws, url) for source, url in settings.ingest_sqs_queues.items()
    }
    queues.update(overrides.queues)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        try:
            await secrets.load()
            if kafka is not None:
                kafka.start()
            if postgres is not None:
                postgres.start()
                background.append(
                    asyncio.ensure_future(
                        postgres.purge_forever(settings.ingest_dedupe_retention_hours * 3600)
                    )
                )
            if secrets.has_remote():
                background.append(asyncio.ensure_future(secrets.refresh_forever()))
            for source, queue in queues.items():
                background.append(
                    asyncio.ensure_future(
                        consume_queue(intake, source, queue, wait_s=settings.ingest_sqs_wait_s)
                    )
                )
            log.info("ingest.started", sources=sorted(sources), sqs_queues=len(queues))
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await intake.drain(timeout_s=settings.ingest_publish_timeout_s)
            if kafka is not None:
                await kafka.stop(timeout_s=10.0)
            if postgres is not None:
                await postgres.stop()
            await aws.close()

    async def ready() -> list[str]:
        missing = []
        if not secrets.loaded:
            missing.append("the webhook secrets are not loaded")
        if kafka is not None and not await kafka.ping(timeout_s=2.0):
            missing.append("the Kafka cluster does not answer")
        if kafka is None and not publisher.available():
            missing.append("the publisher is not connected")
        if postgres is not None and (problem := await postgres.problem(timeout_s=2.0)) is not None:
            missing.append(problem)
        return missing

    app = create_app(
        intake=intake, ready=ready, body_timeout_s=settings.ingest_body_timeout_s, lifespan=lifespan
    )
    # Request metrics and GET /metrics. Traces: one server span per webhook (entrypoints/http.py) whose
    # context the publisher carries into the Kafka headers. Not the generic FastAPI instrumentation:
    # its several spans per request cost more CPU than the rest of a webhook's path together.
    registry = CollectorRegistry()
    app.add_middleware(HttpMetrics, registry=registry)
    add_metrics_route(app, registry)
    return app
