"""Tasks record who computed them and the engine's own time (BacktestBatchCompleted v2).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("worker", sa.Text))
    op.add_column("tasks", sa.Column("engine_ms", sa.Double))


def downgrade() -> None:
    op.drop_column("tasks", "engine_ms")
    op.drop_column("tasks", "worker")
