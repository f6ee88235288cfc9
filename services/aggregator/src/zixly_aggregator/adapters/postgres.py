"""The projection transaction on PostgreSQL (SQLAlchemy async Core + asyncpg)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from operator import attrgetter
from typing import Any

from sqlalchemy import and_, bindparam, case, cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from zixly_aggregator.adapters.tables import outbox, processed_events, results, sweeps, tasks
from zixly_aggregator.domain.model import FINAL, SweepProgress, SweepStatus
from zixly_contracts.envelope import Envelope, encode
from zixly_contracts.events import (
    BacktestBatchCompleted,
    BacktestBatchFailed,
    BacktestResult,
    BacktestResultRef,
    SweepPlanned,
    SweepRequested,
)
from zixly_contracts.metrics import METRIC_NAMES


def _params_encoder() -> Callable[[dict[str, Any]], str]:
    """``json.dumps(params, sort_keys=True, separators=(",", ":"))`` with its encoder built once.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which costs more than encoding a
    small dict; the standard library's own C encoder is called directly where there is one.
    """
    if c_make_encoder is None:
        return json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    # markers (None: a flat dict of numbers cannot be circular), default, the string encoder, indent,
    # key separator, item separator, sort_keys, skipkeys, allow_nan: json.dumps' defaults otherwise.
    chunks = c_make_encoder(
        None, json.JSONEncoder().default, encode_basestring_ascii, None, ":", ",", True, False, True
    )
    return lambda params: "".join(chunks(params, 0))


#: A result's params as the text key of its row (one call per row: no wrapper around the encoder).
params_key = _params_encoder()


#: The ``results`` columns a task's rows are sent in, in the order :func:`result_record` builds them:
#: each row a record of the table's own row type, the columns every row of the task shares left null in
#: it (they are sent once, as parameters). A test holds it to the table's column order.
RESULT_ROW_COLUMNS = ("sweep_id", "dataset", "strategy", "params_key", "params", "task_id", *METRIC_NAMES)


def _insert_results_sql() -> str:
    """``INSERT … SELECT FROM unnest(<an array of results records>)``: the task's rows in one statement.

    One array of records instead of one array per column: asyncpg checks every element of an array
    for being a sub-array (in Python), so 256 records cost far less than one array of 256 values per column.
    """
    shared = {"sweep_id": "$1", "dataset": "$2", "strategy": "$3", "task_id": "$4"}
    selected = ", ".join(
        shared.get(name) or ("r.params_key::jsonb" if name == "params" else f"r.{name}")
        for name in RESULT_ROW_COLUMNS
    )
    # Built once from the table's own column names; every value is a bind parameter.
    return (
        f"INSERT INTO results ({', '.join(RESULT_ROW_COLUMNS)}) "  # noqa: S608
        f"SELECT {selected} FROM unnest($5::results[]) AS r "
        "ON CONFLICT DO NOTHING"
    )


INSERT_RESULTS = _insert_results_sql()


_METRIC_VALUES = attrgetter(*METRIC_NAMES)


def result_record(result: BacktestResult) -> tuple[Any, ...]:
    """One row of :data:`INSERT_RESULTS`: its params key and metrics (``params`` is the key as JSONB:
    the same value whatever the key order and spacing)."""
    return (None, None, None, params_key(result.params), None, None, *_METRIC_VALUES(result.metrics))


def result_rows(event: BacktestBatchCompleted) -> tuple[Any, ...]:
    """The parameters of :data:`INSERT_RESULTS` for one completed task."""
    return (
        event.sweep_id,
        event.dataset,
        event.strategy,
        event.task_id,
        [result_record(r) for r in event.results],
    )


def make_engine(url: str, *, schema: str = "public") -> AsyncEngine:
    """An engine whose connections see ``schema`` first (``zixly replay`` builds into another one).

    Connections are checked before use, so the pool recovers by itself after a database restart; a
    query that does not answer within 20 s fails instead of holding the consumer.
    """
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"server_settings": {"search_path": schema}, "timeout": 10, "command_timeout": 20},
    )


class PostgresProjectionTransaction:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(self, event: Envelope[Any], consumer: str) -> bool:
        inserted = await self._conn.execute(
            CLAIM, {"consumer": consumer, "event_id": event.id, "event_type": event.type}
        )
        return inserted.first() is not None

    async def _ensure_sweep(self, sweep_id: str, at: datetime) -> None:
        await self._conn.execute(
            insert(sweeps)
            .values(sweep_id=sweep_id, status=SweepStatus.REQUESTED.value, updated_at=at)
            .on_conflict_do_nothing()
        )

    async def record_requested(self, event: SweepRequested, correlation_id: str, at: datetime) -> None:
        await self._ensure_sweep(event.sweep_id, at)
        await self._conn.execute(
            update(sweeps)
            .where(sweeps.c.sweep_id == event.sweep_id)
            .values(
                source=event.source,
                correlation_id=correlation_id,
                requested_at=at,
                updated_at=_latest(at),
                # The plan is authoritative (it adds the baseline); the request only fills what it
                # has not set yet, whichever of the two topics is read first.
                name=case((sweeps.c.planned_at.is_(None), event.spec.name), else_=sweeps.c.name),
                datasets=func.coalesce(
                    sweeps.c.datasets, cast([d.symbol for d in event.spec.datasets], JSONB)
                ),
                strategies=func.coalesce(
                    sweeps.c.strategies, cast([s.name for s in event.spec.strategies], JSONB)
                ),
            )
        )

    async def record_planned(self, event: SweepPlanned, at: datetime) -> SweepProgress:
        await self._ensure_sweep(event.sweep_id, at)
        planned = await self._conn.execute(
            update(sweeps)
            .where(sweeps.c.sweep_id == event.sweep_id)
            .values(
                name=event.name,
                task_count=event.task_count,
                backtest_count=event.backtest_count,
                datasets=event.datasets,
                strategies=event.strategies,
                planned_at=at,
                updated_at=_latest(at),
                status=_unless_final(SweepStatus.RUNNING),
            )
            .returning(*PROGRESS_COLUMNS)
        )
        return _progress(planned.one())

    async def _record_task(self, values: dict[str, Any]) -> bool:
        inserted = await self._conn.execute(INSERT_TASK, values)
        return inserted.first() is not None

    async def record_completed_task(
        self, event: BacktestBatchCompleted, at: datetime
    ) -> SweepProgress | None:
        fresh = await self._record_task(
            {
                "task_id": event.task_id,
                "sweep_id": event.sweep_id,
                "dataset": event.dataset,
                "strategy": event.strategy,
                "batch_index": event.batch_index,
                "status": "completed",
                "backtests": len(event.results),
                "artifact_uri": event.artifact_uri,
                "duration_ms": event.duration_ms,
                "worker": event.worker,
                "engine_ms": event.engine_ms,
                "recorded_at": at,
            }
        )
        if not fresh:
            return None
        if event.results:
            # One statement for every row, sent as an array of records (asyncpg, binary), in this
            # transaction: a multi-row VALUES would be compiled anew for each event.
            await self._conn.exec_driver_sql(INSERT_RESULTS, result_rows(event))
        return await self._count_task(
            event.sweep_id,
            at,
            status=SweepStatus.RUNNING,
            tasks_done=1,
            backtests_done=len(event.results),
        )

    async def record_failed_task(self, event: BacktestBatchFailed, at: datetime) -> SweepProgress | None:
        fresh = await self._record_task(
            {
                "task_id": event.task_id,
                "sweep_id": event.sweep_id,
                "dataset": event.dataset,
                "strategy": event.strategy,
                "batch_index": event.batch_index,
                "status": "failed",
                "backtests": event.backtests,
                "error": f"{event.error_type}: {event.error}",
                "recorded_at": at,
            }
        )
        if not fresh:
            return None
        # A failed task does not make a sweep running: its plan or a result does.
        return await self._count_task(event.sweep_id, at, status=SweepStatus.REQUESTED, tasks_failed=1)

    async def _count_task(
        self, sweep_id: str, at: datetime, *, status: SweepStatus, **added: int
    ) -> SweepProgress:
        """Add a reported task to its sweep (created if its plan is not read yet) in one upsert that
        locks the row and returns the progress: concurrent last tasks see each other's counts."""
        values = {"tasks_done": 0, "tasks_failed": 0, "backtests_done": 0, **added}
        row = await self._conn.execute(
            COUNT_TASK, {"sweep_id": sweep_id, "status": status.value, "updated_at": at, **values}
        )
        return _progress(row.one())

    async def fail(self, sweep_id: str, at: datetime, reason: str) -> None:
        await self._ensure_sweep(sweep_id, at)
        await self._conn.execute(
            update(sweeps)
            .where(and_(sweeps.c.sweep_id == sweep_id, sweeps.c.status.not_in([s.value for s in FINAL])))
            .values(status=SweepStatus.FAILED.value, failure_reason=reason, updated_at=_latest(at))
        )

    async def finish(self, sweep_id: str, status: SweepStatus, failure_reason: str | None = None) -> datetime:
        last_result = (
            select(func.max(tasks.c.recorded_at)).where(tasks.c.sweep_id == sweep_id).scalar_subquery()
        )
        finished_at = func.greatest(sweeps.c.planned_at, last_result)
        row = (
            await self._conn.execute(
                update(sweeps)
                .where(sweeps.c.sweep_id == sweep_id)
                .values(
                    status=status.value,
                    failure_reason=failure_reason,
                    completed_at=finished_at,
                    updated_at=func.greatest(sweeps.c.updated_at, finished_at),
                )
                .returning(sweeps.c.completed_at)
            )
        ).one()
        value: datetime = row.completed_at
        return value

    async def first_task_error(self, sweep_id: str) -> str | None:
        error: str | None = (
            await self._conn.execute(
                select(tasks.c.error)
                .where(tasks.c.sweep_id == sweep_id, tasks.c.status == "failed")
                .order_by(tasks.c.dataset, tasks.c.strategy, tasks.c.batch_index)
                .limit(1)
            )
        ).scalar_one_or_none()
        return error

    async def best_result(self, sweep_id: str) -> BacktestResultRef | None:
        row = (
            await self._conn.execute(
                select(
                    results.c.dataset,
                    results.c.strategy,
                    results.c.params,
                    results.c.sharpe,
                    results.c.total_return,
                )
                .where(results.c.sweep_id == sweep_id)
                .order_by(
                    results.c.sharpe.desc().nulls_last(), results.c.total_return.desc(), results.c.params_key
                )
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return BacktestResultRef(
            dataset=row.dataset,
            strategy=row.strategy,
            params=row.params,
            sharpe=row.sharpe,
            total_return=row.total_return,
        )

    async def add_to_outbox(self, topic: str, key: str, event: Envelope[Any]) -> None:
        await self._conn.execute(
            insert(outbox)
            .values(event_id=event.id, topic=topic, key=key, payload=encode(event), created_at=event.time)
            .on_conflict_do_nothing()
        )


PROGRESS_COLUMNS = (
    sweeps.c.sweep_id,
    sweeps.c.name,
    sweeps.c.status,
    sweeps.c.task_count,
    sweeps.c.backtest_count,
    sweeps.c.tasks_done,
    sweeps.c.tasks_failed,
)


def _progress(row: Any) -> SweepProgress:
    return SweepProgress(
        sweep_id=row.sweep_id,
        name=row.name,
        status=SweepStatus(row.status),
        task_count=row.task_count,
        backtest_count=row.backtest_count,
        tasks_done=row.tasks_done,
        tasks_failed=row.tasks_failed,
    )


# The statements of every result event, built once (building and coercing them per event cost more
# than running them).
CLAIM = (
    insert(processed_events)
    .values(
        consumer=bindparam("consumer"),
        event_id=bindparam("event_id"),
        event_type=bindparam("event_type"),
        processed_at=func.now(),
    )
    .on_conflict_do_nothing()
    .returning(processed_events.c.event_id)
)
INSERT_TASK = insert(tasks).on_conflict_do_nothing().returning(tasks.c.task_id)
_COUNTED = insert(sweeps).values(
    sweep_id=bindparam("sweep_id"),
    status=bindparam("status"),
    updated_at=bindparam("updated_at"),
    tasks_done=bindparam("tasks_done"),
    tasks_failed=bindparam("tasks_failed"),
    backtests_done=bindparam("backtests_done"),
)
#: Counts add up; the status moves to the new one unless it is final or the new one is ``requested``.
COUNT_TASK = _COUNTED.on_conflict_do_update(
    index_elements=[sweeps.c.sweep_id],
    set_={
        "tasks_done": sweeps.c.tasks_done + _COUNTED.excluded.tasks_done,
        "tasks_failed": sweeps.c.tasks_failed + _COUNTED.excluded.tasks_failed,
        "backtests_done": sweeps.c.backtests_done + _COUNTED.excluded.backtests_done,
        "status": case(
            (
                sweeps.c.status.in_([s.value for s in FINAL])
                | (_COUNTED.excluded.status == SweepStatus.REQUESTED.value),
                sweeps.c.status,
            ),
            else_=_COUNTED.excluded.status,
        ),
        "updated_at": func.greatest(sweeps.c.updated_at, _COUNTED.excluded.updated_at),
    },
).returning(*PROGRESS_COLUMNS)


def _latest(at: datetime) -> Any:
    """``updated_at`` only moves forward, whatever order the events come in."""
    return func.greatest(sweeps.c.updated_at, at)


def _unless_final(status: SweepStatus) -> Any:
    """Keep a final status (completed, failed) once reached; otherwise move to ``status``."""
    return case((sweeps.c.status.in_([s.value for s in FINAL]), sweeps.c.status), else_=status.value)


class PostgresProjectionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresProjectionTransaction]:
        async with self._engine.begin() as conn:
            yield PostgresProjectionTransaction(conn)
