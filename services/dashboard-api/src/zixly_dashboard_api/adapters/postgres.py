"""Queries over the aggregator's read models (read-only; the aggregator owns the schema)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from zixly_contracts.metrics import METRIC_NAMES
from zixly_dashboard_api.domain.model import ResultView, SweepView

_metadata = MetaData()
sweeps = Table(
    "sweeps",
    _metadata,
    *(Column(name, Text) for name in ("sweep_id", "name", "status", "failure_reason")),
    Column("datasets", JSONB),
    Column("strategies", JSONB),
    *(
        Column(name, Integer)
        for name in ("task_count", "backtest_count", "tasks_done", "tasks_failed", "backtests_done")
    ),
    *(
        Column(name, DateTime(timezone=True))
        for name in ("requested_at", "planned_at", "completed_at", "updated_at")
    ),
)
results = Table(
    "results",
    _metadata,
    *(Column(name, Text) for name in ("sweep_id", "dataset", "strategy", "params_key")),
    Column("params", JSONB),
    *(Column(name) for name in METRIC_NAMES),
)


def make_engine(url: str, *, schema: str = "public") -> AsyncEngine:
    """An engine whose connections see ``schema`` first (``zixly replay`` builds the read models into
    another one; ``ZIXLY_DATABASE_SCHEMA`` switches the dashboard to it, as it does the aggregator)."""
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"server_settings": {"search_path": schema}},
    )


class PostgresReadModels:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sweeps(self, limit: int, offset: int) -> list[SweepView]:
        query = select(sweeps).order_by(sweeps.c.updated_at.desc(), sweeps.c.sweep_id)
        query = query.limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [SweepView.model_validate(row._asdict()) for row in await conn.execute(query)]

    async def sweep(self, sweep_id: str) -> SweepView | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sweeps).where(sweeps.c.sweep_id == sweep_id))).first()
        return SweepView.model_validate(row._asdict()) if row else None

    async def results(
        self,
        sweep_id: str,
        *,
        order_by: str,
        descending: bool,
        limit: int,
        offset: int,
        dataset: str | None,
        strategy: str | None,
    ) -> list[ResultView]:
        column = results.c[order_by]
        query = select(results).where(results.c.sweep_id == sweep_id)
        if dataset is not None:
            query = query.where(results.c.dataset == dataset)
        if strategy is not None:
            query = query.where(results.c.strategy == strategy)
        ordering = column.desc().nulls_last() if descending else column.asc().nulls_last()
        # A total order (ties broken by the row's key), so pages of `limit` from `offset` never overlap.
        query = query.order_by(ordering, results.c.dataset, results.c.strategy, results.c.params_key)
        query = query.limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ResultView(
                dataset=row["dataset"],
                strategy=row["strategy"],
                params=row["params"],
                metrics={name: row[name] for name in METRIC_NAMES},
            )
            for row in rows
        ]

    async def ping(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(text("select 1 from sweeps limit 1"))
        except Exception:
            return False
        return True
