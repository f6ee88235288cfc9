"""Alembic migrations shipped inside a service's package, run over asyncpg in one PostgreSQL schema.

A service that owns tables keeps ``migrations/`` (``env.py``, ``versions/``) in its package: its
``migrate`` command calls ``upgrade`` and its ``env.py`` is one call to ``run_migrations``. The schema
is created if needed and holds the service's own ``alembic_version`` table, so services migrating the
same database never read each other's revisions. Needs the ``migrations`` extra.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

SCHEMA_OPTION = "zixly.schema"


def upgrade(migrations: Path, database_url: str, *, schema: str, revision: str = "head") -> None:
    """Create ``schema`` if needed and bring it to ``revision`` with the migrations in ``migrations``."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option(SCHEMA_OPTION, schema)
    command.upgrade(config, revision)


def run_migrations(target_metadata: MetaData | None = None) -> None:
    """The body of a service's ``env.py``: apply the pending revisions in the configured schema."""
    config = context.config
    schema = config.get_main_option(SCHEMA_OPTION) or "public"

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(
            config.get_main_option("sqlalchemy.url") or "",
            connect_args={"server_settings": {"search_path": schema}},
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await connection.commit()
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(run_async())
