"""Composition root: settings → a wired FastStream ASGI app. Nothing runs at import."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from faststream.asgi import AsgiFastStream
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import text

from zixly_aggregator.adapters.migrations import upgrade
from zixly_aggregator.adapters.outbox import KafkaOutbox
from zixly_aggregator.adapters.postgres import PostgresProjectionStore, make_engine
from zixly_aggregator.adapters.tables import metadata
from zixly_aggregator.config import Settings
from zixly_aggregator.entrypoints.replay import ReplayReport, replay_topics
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
from zixly_runtime.app import consumer_app
from zixly_runtime.consumer import (
    ConsumerMetrics,
    ConsumerRuntime,
)
from zixly_runtime.kafka import make_broker
from zixly_runtime.telemetry import kafka_middlewares

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


SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: What a schema built by ``replay`` (or the live one) holds: ``--replace`` drops nothing else.
READ_MODEL_TABLES = frozenset({*metadata.tables, "alembic_version"})


class _NoAnnouncements:
    """A replay announces nothing: the live system did; the rebuilt outbox is marked as published."""

    async def flush(self) -> int:
        return 0


async def replay(settings: Settings, schema: str, *, replace: bool = False) -> ReplayReport:
    """Rebuild the read models from the topics into ``schema`` (created fresh); return what was read."""
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"{schema!r} is not a plain schema name (lower case letters, digits, _)")
    if schema == settings.database_schema:
        raise ValueError(f"refusing to replay into the live schema {schema!r}")
    if schema.startswith("pg_") or schema == "information_schema":
        raise ValueError(f"{schema!r} is a PostgreSQL system schema")
    admin = make_engine(settings.database_url)
    try:
        async with admin.begin() as conn:
            tables = set(
                (
                    await conn.execute(
                        # pg_class, not information_schema: every relation, whatever this role may see.
                        text(
                            "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(:s) "
                            "AND relkind IN ('r', 'p', 'v', 'm', 'f')"
                        ),
                        {"s": schema},
                    )
                ).scalars()
            )
            if tables and not replace:
                raise ValueError(f"schema {schema!r} already has tables (use --replace to drop it first)")
            if foreign := sorted(tables - READ_MODEL_TABLES):
                raise ValueError(
                    f"refusing to drop schema {schema!r}: it holds tables that are not read models "
                    f"({', '.join(foreign)})"
                )
            if replace:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()
    await asyncio.to_thread(upgrade, settings.database_url, schema=schema)
    engine = make_engine(settings.database_url, schema=schema)
    store = PostgresProjectionStore(engine)
    outbox = _NoAnnouncements()
    try:

        async def handle(event: Envelope[Any]) -> bool:
            return await project(event, store=store, outbox=outbox)

        report = await replay_topics(
            settings.kafka_bootstrap_servers, READ_MODEL_TOPICS, handler=handle, expected=READ_MODEL_EVENTS
        )
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE outbox SET published_at = created_at WHERE published_at IS NULL"))
        return report
    finally:
        await engine.dispose()


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

    async def start_relay() -> None:
        relay.append(asyncio.create_task(outbox.run_forever(settings.aggregator_outbox_interval_s)))

    async def stop_relay() -> None:
        for task in relay:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def dispose() -> None:
        await engine.dispose()

    return consumer_app(
        broker,
        runtimes,
        registry,
        settings,
        title="zixly-aggregator",
        description="Projects sweep and result events into the PostgreSQL read models; "
        "announces completed sweeps through an outbox.",
        hard_exit=hard_exit,
        after_start=[start_relay],
        after_drain=[stop_relay],
        after_shutdown=[dispose],
    )
