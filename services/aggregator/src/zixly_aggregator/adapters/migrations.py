"""Running the Alembic migrations that ship inside this package, into a given PostgreSQL schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str, schema: str = "public") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("zixly.schema", schema)
    return config


def upgrade(database_url: str, revision: str = "head", *, schema: str = "public") -> None:
    """Create ``schema`` if needed and bring its read-model tables to ``revision``."""
    command.upgrade(alembic_config(database_url, schema), revision)
