"""Alembic environment: the read models' migrations, over asyncpg, in the configured schema."""

from __future__ import annotations

from zixly_aggregator.adapters.tables import metadata
from zixly_runtime.migrations import run_migrations

run_migrations(metadata)
