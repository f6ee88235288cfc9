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

from zixly_aggregator.domain.model import SweepProgress, SweepStatus, every_task_failed_reason
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
    announced = False
    async with store.transaction() as tx:
        if not await tx.claim(event, CONSUMER):
            return False
        data = event.data
        if isinstance(data, SweepRequested):
            await tx.record_requested(data, event.correlation_id, at)
        elif isinstance(data, SweepPlanned):
            progress = await tx.record_planned(data, at)
            announced = await _announce_if_finished(tx, event, progress)
        elif isinstance(data, BacktestBatchCompleted):
            if progress := await tx.record_completed_task(data, at):
                announced = await _announce_if_finished(tx, event, progress)
        elif isinstance(data, BacktestBatchFailed):
            if progress := await tx.record_failed_task(data, at):
                announced = await _announce_if_finished(tx, event, progress)
        elif isinstance(data, SweepFailed) and event.source != EVENT_SOURCE:
            await tx.fail(data.sweep_id, at, reason=data.reason)
        # This service's own announcements (SweepCompleted; SweepFailed when every task failed) were
        # projected in the transaction that wrote them.
    if announced:
        # Sent at once; the relay catches what a crash between the commit and the send leaves behind.
        await outbox.flush()
    return True


async def _announce_if_finished(
    tx: ProjectionTransaction, cause: Envelope[Any], progress: SweepProgress
) -> bool:
    """Once every planned task reported: mark the sweep finished and announce it. True if announced.

    ``completed`` (with ``failed_task_count``) if any task succeeded; ``failed`` if every task failed.
    """
    if not progress.is_complete:
        return False
    sweep_id = progress.sweep_id
    announcement: Envelope[Any]
    if progress.every_task_failed:
        reason = every_task_failed_reason(progress.tasks_failed, await tx.first_task_error(sweep_id))
        finished_at = await tx.finish(sweep_id, SweepStatus.FAILED, failure_reason=reason)
        announcement = _announcement(
            SweepFailed(sweep_id=sweep_id, reason=reason), "sweep.failed", cause, finished_at
        )
    else:
        finished_at = await tx.finish(sweep_id, SweepStatus.COMPLETED)
        completed = SweepCompleted(
            sweep_id=sweep_id,
            name=progress.name,
            task_count=progress.task_count or 0,
            backtest_count=progress.backtest_count or 0,
            failed_task_count=progress.tasks_failed,
            completed_at=finished_at,
            best=await tx.best_result(sweep_id),
        )
        announcement = _announcement(completed, "sweep.completed", cause, finished_at)
    await tx.add_to_outbox(SWEEPS_LIFECYCLE, sweep_id, announcement)
    return True


def _announcement(data: Any, kind: str, cause: Envelope[Any], at: datetime) -> Envelope[Any]:
    """Deterministic id and time: a replay writes the same outbox row as the live projection."""
    return envelope(
        data,
        id=ids.event_id(data.sweep_id, kind),
        source=EVENT_SOURCE,
        subject=data.sweep_id,
        correlation_id=cause.correlation_id,
        causation_id=cause.id,
        time=at,
    )
