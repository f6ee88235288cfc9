"""Alembic environment: the dedupe record's migrations, over asyncpg, in schema ``ingest``."""

from __future__ import annotations

from zixly_runtime.migrations import run_migrations

run_migrations()
