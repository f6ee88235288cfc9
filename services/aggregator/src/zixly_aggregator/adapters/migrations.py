"""Running the Alembic migrations that ship inside this package, into a given PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

from zixly_runtime import migrations

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def upgrade(database_url: str, revision: str = "head", *, schema: str = "public") -> None:
    """Create ``schema`` if needed and bring its read-model tables to ``revision``."""
    migrations.upgrade(MIGRATIONS, database_url, schema=schema, revision=revision)
