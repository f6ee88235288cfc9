"""Relays the outbox to Kafka: each pending event is published, then marked, in one locked pass."""

from __future__ import annotations

import asyncio

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from zixly_aggregator.adapters.tables import outbox
from zixly_contracts.envelope import CONTENT_TYPE, Envelope
from zixly_contracts.events import SweepCompleted
from zixly_contracts.topics import SWEEPS_LIFECYCLE

log = structlog.get_logger(__name__)


class KafkaOutbox:
    def __init__(self, engine: AsyncEngine, broker: KafkaBroker) -> None:
        self._engine = engine
        self._broker = broker
        self._lock = asyncio.Lock()
        # Declared so that the aggregator's AsyncAPI document shows its one announcement.
        self._lifecycle = broker.publisher(
            SWEEPS_LIFECYCLE,
            title=f"{SWEEPS_LIFECYCLE}:publish",
            schema=Envelope[SweepCompleted],
            description="SweepCompleted, once per sweep, relayed from the outbox",
        )

    async def flush(self) -> int:
        """Publish pending events in order; rows locked by another replica are left to it."""
        async with self._lock, self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(100)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                headers = {"content-type": CONTENT_TYPE}
                if row.topic == SWEEPS_LIFECYCLE:
                    await self._lifecycle.publish(row.payload, key=row.key.encode(), headers=headers)
                else:
                    await self._broker.publish(row.payload, row.topic, key=row.key.encode(), headers=headers)
                await conn.execute(
                    update(outbox).where(outbox.c.seq == row.seq).values(published_at=func.now())
                )
            return len(rows)

    async def run_forever(self, interval_s: float) -> None:
        """Catch what a crash between commit and publish left behind."""
        while True:
            try:
                await self.flush()
            except Exception:
                log.exception("outbox relay failed; retrying")
            await asyncio.sleep(interval_s)
