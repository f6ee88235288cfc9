"""Alembic environment: runs the migrations over an async engine (asyncpg), in one schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from zixly_aggregator.adapters.tables import metadata

config = context.config
SCHEMA = config.get_main_option("zixly.schema") or "public"


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_async_engine(
        config.get_main_option("sqlalchemy.url") or "",
        connect_args={"server_settings": {"search_path": SCHEMA}},
    )
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await connection.commit()
        await connection.run_sync(run)
    await engine.dispose()


asyncio.run(run_async())
