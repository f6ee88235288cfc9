"""Read models: sweeps, tasks, results, processed events, outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("sweep_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("correlation_id", sa.Text),
        sa.Column("datasets", JSONB),
        sa.Column("strategies", JSONB),
        sa.Column("task_count", sa.Integer),
        sa.Column("backtest_count", sa.Integer),
        sa.Column("tasks_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tasks_failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("backtests_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failure_reason", sa.Text),
        sa.Column("requested_at", TS),
        sa.Column("planned_at", TS),
        sa.Column("completed_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.Text, primary_key=True),
        sa.Column("sweep_id", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("batch_index", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("backtests", sa.Integer, nullable=False),
        sa.Column("artifact_uri", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Double),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_tasks_sweep_id", "tasks", ["sweep_id"])
    op.create_table(
        "results",
        sa.Column("sweep_id", sa.Text, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("params_key", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("total_return", sa.Double, nullable=False),
        sa.Column("cagr", sa.Double),
        sa.Column("annual_volatility", sa.Double),
        sa.Column("sharpe", sa.Double),
        sa.Column("sortino", sa.Double),
        sa.Column("calmar", sa.Double),
        sa.Column("max_drawdown", sa.Double),
        sa.Column("max_drawdown_bars", sa.Integer),
        sa.Column("max_drawdown_days", sa.Double),
        sa.Column("exposure", sa.Double),
        sa.Column("closed_trades", sa.Integer),
        sa.Column("open_trades", sa.Integer),
        sa.Column("win_rate", sa.Double),
        sa.Column("profit_factor", sa.Double),
        sa.Column("avg_trade", sa.Double),
        sa.Column("expectancy", sa.Double),
        sa.Column("sqn", sa.Double),
        sa.Column("final_equity", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("sweep_id", "dataset", "strategy", "params_key"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("processed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS),
    )


def downgrade() -> None:
    for table in ("outbox", "processed_events", "results", "tasks", "sweeps"):
        op.drop_table(table)
