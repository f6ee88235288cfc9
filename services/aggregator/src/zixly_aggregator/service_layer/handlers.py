"""Projection handlers: one transaction per event, with its tracking row and any announcement.

The event id is claimed in the same transaction as the projection (exactly-once effect): a redelivered
or replayed event changes nothing. ``SweepCompleted`` is written to the outbox in that transaction too,
so it is announced exactly once even if the process dies right after the commit.

Every time written comes from the events (their CloudEvents ``time``), never from the clock, and no row
depends on the order in which events of different topics arrive: a replay from the topics rebuilds the
same rows as the live projection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zixly_aggregator.service_layer.ports import Outbox, ProjectionStore, ProjectionTransaction
from zixly_contracts import ids
from zixly_contracts.envelope import Envelope, envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    SweepCompleted,
    SweepFailed,
    SweepPlanned,
    SweepRequested,
)
from zixly_contracts.topics import SWEEPS_LIFECYCLE

CONSUMER = "aggregator.read_models"
EVENT_SOURCE = "/zixly/aggregator"


async def project(event: Envelope[Any], *, store: ProjectionStore, outbox: Outbox) -> bool:
    """Project one event; return False if it had been projected before."""
    at = event.time
    async with store.transaction() as tx:
        if not await tx.claim(event, CONSUMER):
            return False
        data = event.data
        if isinstance(data, SweepRequested):
            await tx.record_requested(data, event.correlation_id, at)
        elif isinstance(data, SweepPlanned):
            await tx.record_planned(data, at)
            await _announce_if_complete(tx, event, data.sweep_id)
        elif isinstance(data, BacktestBatchCompleted):
            if await tx.record_completed_task(data, at):
                await _announce_if_complete(tx, event, data.sweep_id)
        elif isinstance(data, BacktestBatchFailed):
            if await tx.record_failed_task(data, at):
                await _announce_if_complete(tx, event, data.sweep_id)
        elif isinstance(data, SweepFailed):
            await tx.fail(data.sweep_id, at, reason=data.reason)
        # SweepCompleted is this service's own announcement: already projected when it was written.
    await outbox.flush()
    return True


async def _announce_if_complete(tx: ProjectionTransaction, cause: Envelope[Any], sweep_id: str) -> None:
    progress = await tx.progress(sweep_id)
    if progress is None or not progress.is_complete:
        return
    completed_at: datetime = await tx.complete(sweep_id)
    completed = SweepCompleted(
        sweep_id=sweep_id,
        name=progress.name,
        task_count=progress.task_count or 0,
        backtest_count=progress.backtest_count or 0,
        failed_task_count=progress.tasks_failed,
        completed_at=completed_at,
        best=await tx.best_result(sweep_id),
    )
    announcement = envelope(
        completed,
        id=ids.event_id(sweep_id, "sweep.completed"),
        source=EVENT_SOURCE,
        subject=sweep_id,
        correlation_id=cause.correlation_id,
        causation_id=cause.id,
        time=completed_at,
    )
    await tx.add_to_outbox(SWEEPS_LIFECYCLE, sweep_id, announcement)
