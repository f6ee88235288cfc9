"""The transaction the projection writes in: read models, tracking and outbox commit together."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from zixly_aggregator.domain.model import SweepProgress, SweepStatus
from zixly_contracts.envelope import Envelope
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    BacktestResultRef,
    SweepPlanned,
    SweepRequested,
)


class ProjectionTransaction(Protocol):
    async def claim(self, event: Envelope[Any], consumer: str) -> bool:
        """Record the event as consumed by ``consumer``; False if it already was (then change nothing)."""

    async def record_requested(self, event: SweepRequested, correlation_id: str, at: datetime) -> None: ...

    async def record_planned(self, event: SweepPlanned, at: datetime) -> SweepProgress:
        """Record the plan; return the sweep's progress, its row locked until the commit."""

    async def record_completed_task(
        self, event: BacktestBatchCompleted, at: datetime
    ) -> SweepProgress | None:
        """Insert the task and its result rows; return the sweep's progress (locked), or None if the
        task was already recorded."""

    async def record_failed_task(self, event: BacktestBatchFailed, at: datetime) -> SweepProgress | None:
        """As :meth:`record_completed_task`, for a task that failed."""

    async def fail(self, sweep_id: str, at: datetime, reason: str) -> None:
        """Mark the sweep failed, unless it already completed or failed."""

    async def finish(self, sweep_id: str, status: SweepStatus, failure_reason: str | None = None) -> datetime:
        """Mark the sweep completed or failed once every task reported; return when it finished: its
        latest plan or result event's time."""

    async def first_task_error(self, sweep_id: str) -> str | None:
        """The error of the sweep's first failed task (by dataset, strategy, batch), if any."""

    async def best_result(self, sweep_id: str) -> BacktestResultRef | None: ...

    async def add_to_outbox(self, topic: str, key: str, event: Envelope[Any]) -> None: ...


class ProjectionStore(Protocol):
    def transaction(self) -> Any:
        """An async context manager yielding a :class:`ProjectionTransaction`; commits on clean exit."""


class Outbox(Protocol):
    async def flush(self) -> int:
        """Publish every pending outbox event, marking each once the broker acknowledged it."""
