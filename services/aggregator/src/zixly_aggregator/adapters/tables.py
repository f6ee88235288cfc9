"""The read-model schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

from zixly_contracts.metrics import Metrics

metadata = MetaData()

sweeps = Table(
    "sweeps",
    metadata,
    Column("sweep_id", Text, primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False),
    Column("source", Text),
    Column("correlation_id", Text),
    Column("datasets", JSONB),
    Column("strategies", JSONB),
    Column("task_count", Integer),
    Column("backtest_count", Integer),
    Column("tasks_done", Integer, nullable=False, server_default="0"),
    Column("tasks_failed", Integer, nullable=False, server_default="0"),
    Column("backtests_done", Integer, nullable=False, server_default="0"),
    Column("failure_reason", Text),
    Column("requested_at", DateTime(timezone=True)),
    Column("planned_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("task_id", Text, primary_key=True),
    Column("sweep_id", Text, nullable=False, index=True),
    Column("dataset", Text, nullable=False),
    Column("strategy", Text, nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("backtests", Integer, nullable=False),
    Column("artifact_uri", Text),
    Column("error", Text),
    Column("duration_ms", Double),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("worker", Text),
    Column("engine_ms", Double),
)

_INTEGER_METRICS = {"max_drawdown_bars", "closed_trades", "open_trades"}

results = Table(
    "results",
    metadata,
    Column("sweep_id", Text, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("strategy", Text, nullable=False),
    Column("params_key", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("task_id", Text, nullable=False),
    *(
        Column(name, Integer if name in _INTEGER_METRICS else Double, nullable=not field.is_required())
        for name, field in Metrics.model_fields.items()
    ),
    PrimaryKeyConstraint("sweep_id", "dataset", "strategy", "params_key"),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer", "event_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
)
