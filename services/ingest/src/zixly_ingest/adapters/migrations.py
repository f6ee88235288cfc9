"""Running the Alembic migrations that ship inside this package: the dedupe record in schema ``ingest``."""

from __future__ import annotations

from pathlib import Path

from zixly_runtime import migrations

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
SCHEMA = "ingest"


def upgrade(database_url: str, revision: str = "head") -> None:
    """Create schema ``ingest`` if needed and bring the dedupe record's tables to ``revision``."""
    migrations.upgrade(MIGRATIONS, database_url, schema=SCHEMA, revision=revision)
